# vrecall serve in a container: build with the SDK, run on the ASP.NET runtime as a non-root user.
#   docker build -t vrecall:0.1.0 .
#   docker run -p 8080:8080 -v "$PWD/bundles:/bundles:ro" -e VRECALL_ADMIN_TOKEN=... vrecall:0.1.0
# Mount the folder that holds the bundle, not the bundle itself: publishing a bundle renames a new folder into place,
# which a bind mount of the old folder would never see (the watch would keep serving the old one).
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
COPY Directory.Build.props VectorRecall.sln ./
COPY src/ src/
RUN dotnet publish src/VectorRecall.Cli/VectorRecall.Cli.csproj -c Release -o /app

FROM mcr.microsoft.com/dotnet/aspnet:10.0 AS runtime
# curl only for the health check below.
RUN apt-get update \
    && apt-get install -y --no-install-recommends curl \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /app .
# The ASP.NET images ship the unprivileged user 'app' (UID 1654); the process never runs as root.
USER app
EXPOSE 8080
# The folder holding the bundle (bundles/current) is mounted here read-only (a volume, or a Kubernetes PersistentVolumeClaim).
VOLUME ["/bundles"]
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
    CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
# Inside a container the server must listen beyond loopback; the port is published explicitly.
ENTRYPOINT ["dotnet", "/app/vrecall.dll", "serve"]
# --watch: a bundle published later is loaded, and until one is the container runs not ready (rather than exiting).
CMD ["--bundle", "/bundles/current", "--urls", "http://0.0.0.0:8080", "--watch"]
