namespace VectorRecall.Tests;

/// <summary>A test that runs a real Redis (Debian's redis-server): skipped, saying so, where it is not installed.</summary>
public sealed class RedisFactAttribute : FactAttribute
{
    public static readonly string? Path = new[] { "/usr/bin/redis-server", "/usr/local/bin/redis-server" }.FirstOrDefault(File.Exists);

    public RedisFactAttribute()
    {
        if (Path is null) Skip = "needs Debian's redis-server package (apt-get install redis-server), which is not installed";
    }
}
