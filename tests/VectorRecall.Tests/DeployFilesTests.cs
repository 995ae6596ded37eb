using YamlDotNet.RepresentationModel;

namespace VectorRecall.Tests;

/// <summary>
/// The deployment files say what works: a volume that can bind for many readers and a writer, pinned images with a pull
/// policy, the bundle's parent folder mounted (so a published bundle is seen), probes that keep a pod without a bundle
/// alive but not ready, and kustomizations that list files which exist.
/// </summary>
public class DeployFilesTests
{
    private static string Root => Repository.Root;

    /// <summary>Every YAML document of every file under deploy/k8s, with its file.</summary>
    private static List<(string File, YamlMappingNode Doc)> Documents()
    {
        var docs = new List<(string, YamlMappingNode)>();
        foreach (var file in Directory.GetFiles(Path.Combine(Root, "deploy", "k8s"), "*.yaml", SearchOption.AllDirectories).Order())
        {
            var stream = new YamlStream();
            using (var reader = new StreamReader(file)) stream.Load(reader);
            foreach (var d in stream.Documents)
                if (d.RootNode is YamlMappingNode m) docs.Add((Path.GetRelativePath(Root, file), m));
        }
        return docs;
    }

    private static YamlNode? At(YamlNode node, params string[] path)
    {
        foreach (var key in path)
        {
            if (node is not YamlMappingNode m || !m.Children.TryGetValue(new YamlScalarNode(key), out var next)) return null;
            node = next;
        }
        return node;
    }

    private static string Kind(YamlMappingNode doc) => At(doc, "kind")?.ToString() ?? "";

    private static IEnumerable<YamlMappingNode> Containers(YamlMappingNode doc) =>
        (At(doc, "spec", "template", "spec", "containers") as YamlSequenceNode)?.Children.OfType<YamlMappingNode>() ?? [];

    [Fact]
    public void TheBundleVolumeIsReadWriteManyWithAStorageClass()
    {
        var claim = Documents().Single(d => Kind(d.Doc) == "PersistentVolumeClaim").Doc;
        var modes = ((YamlSequenceNode)At(claim, "spec", "accessModes")!).Children.Select(n => n.ToString()).ToArray();
        Assert.Equal(["ReadWriteMany"], modes);
        Assert.False(string.IsNullOrWhiteSpace(At(claim, "spec", "storageClassName")?.ToString()));
    }

    [Fact]
    public void EveryContainerHasAPinnedImageAndAPullPolicy()
    {
        var containers = Documents().Where(d => Kind(d.Doc) is "Deployment" or "StatefulSet" or "Job").SelectMany(d => Containers(d.Doc).Select(c => (d.File, c))).ToList();
        Assert.True(containers.Count >= 4, $"{containers.Count} containers");
        foreach (var (file, c) in containers)
        {
            string image = At(c, "image")!.ToString();
            Assert.True(image.Contains(':') && !image.EndsWith(":latest", StringComparison.Ordinal), $"{file}: image '{image}' is not pinned");
            Assert.Equal("IfNotPresent", At(c, "imagePullPolicy")?.ToString());
        }
    }

    [Fact]
    public void ServingPodsMountTheBundlesParentWatchItAndStartWithoutOne()
    {
        var serving = Documents().Where(d => Kind(d.Doc) is "Deployment" or "StatefulSet")
            .SelectMany(d => Containers(d.Doc)).Where(c => At(c, "image")!.ToString().StartsWith("vrecall:", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, serving.Count);   // vrecall serve's Deployment and the cluster's StatefulSet
        foreach (var c in serving)
        {
            var args = ((YamlSequenceNode)At(c, "args")!).Children.Select(n => n.ToString()).ToList();
            Assert.Contains("--watch", args);
            Assert.Contains(args, a => a.StartsWith("--bundle=/bundles/", StringComparison.Ordinal) || a.StartsWith("--bundle-store=/bundles/", StringComparison.Ordinal));
            var mounts = ((YamlSequenceNode)At(c, "volumeMounts")!).Children.Select(m => At(m, "mountPath")!.ToString());
            Assert.Contains("/bundles", mounts);
            Assert.Equal("/healthz", At(c, "startupProbe", "httpGet", "path")?.ToString());
            Assert.Equal("/readyz", At(c, "readinessProbe", "httpGet", "path")?.ToString());
        }
    }

    [Fact]
    public void ClusterPodsUseKubernetesHostingWithThePodsIdentityAndAWritableShardSet()
    {
        var docs = Documents();
        var set = docs.Single(d => Kind(d.Doc) == "StatefulSet").Doc;
        var c = Containers(set).Single();
        var args = ((YamlSequenceNode)At(c, "args")!).Children.Select(n => n.ToString()).ToList();
        Assert.Contains("--kubernetes", args);
        Assert.Contains(args, a => a.StartsWith("--redis=", StringComparison.Ordinal));   // the hosting keeps membership in Redis
        var env = ((YamlSequenceNode)At(c, "env")!).Children.Select(e => At(e, "name")!.ToString()).ToList();
        Assert.Superset(new HashSet<string> { "POD_NAME", "POD_NAMESPACE", "POD_IP", "ORLEANS_CLUSTER_ID", "ORLEANS_SERVICE_ID" }, env.ToHashSet());
        // Live item changes are logged in the shard set's folder: its volume is mounted writable.
        var mount = ((YamlSequenceNode)At(c, "volumeMounts")!).Children.Single(m => At(m, "mountPath")!.ToString() == "/bundles");
        Assert.NotEqual("true", At(mount, "readOnly")?.ToString());
        string account = At(set, "spec", "template", "spec", "serviceAccountName")!.ToString();
        var binding = docs.Single(d => Kind(d.Doc) == "RoleBinding").Doc;
        Assert.Contains(((YamlSequenceNode)At(binding, "subjects")!).Children, s => At(s, "name")!.ToString() == account);
        var role = docs.Single(d => Kind(d.Doc) == "Role" && At(d.Doc, "metadata", "name")!.ToString() == At(binding, "roleRef", "name")!.ToString()).Doc;
        var verbs = ((YamlSequenceNode)At(role, "rules")!).Children.SelectMany(r => ((YamlSequenceNode)At(r, "verbs")!).Children.Select(v => v.ToString()));
        Assert.Superset(new HashSet<string> { "get", "list", "watch", "delete" }, verbs.ToHashSet());
    }

    [Fact]
    public void KustomizationsListFilesAndFoldersThatExist()
    {
        foreach (var (file, doc) in Documents().Where(d => Kind(d.Doc) == "Kustomization"))
        {
            string folder = Path.GetDirectoryName(Path.Combine(Root, file))!;
            foreach (var resource in ((YamlSequenceNode)At(doc, "resources")!).Children.Select(n => n.ToString()))
            {
                string path = Path.Combine(folder, resource);
                Assert.True(File.Exists(path) || File.Exists(Path.Combine(path, "kustomization.yaml")), $"{file}: resource '{resource}' is missing");
                Assert.False(!Directory.Exists(path) && resource.StartsWith("..", StringComparison.Ordinal), $"{file}: '{resource}' is a file outside the kustomization's folder, which kustomize refuses");
            }
        }
    }

    [KubectlFact]
    public void KubectlRendersEveryKustomization()
    {
        foreach (string folder in new[] { "deploy/k8s", "deploy/k8s/cluster" })
        {
            var run = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo(KubectlFactAttribute.Path!, ["kustomize", Path.Combine(Root, folder)])
            {
                RedirectStandardOutput = true, RedirectStandardError = true,
            })!;
            var output = run.StandardOutput.ReadToEndAsync();
            string errors = run.StandardError.ReadToEnd();
            Assert.True(run.WaitForExit(60_000), $"kubectl kustomize {folder} did not finish");
            Assert.True(run.ExitCode == 0, $"kubectl kustomize {folder}: {errors}");
            var kinds = new YamlStream();
            kinds.Load(new StringReader(output.Result));
            Assert.Contains(kinds.Documents, d => Kind((YamlMappingNode)d.RootNode) is "Deployment" or "StatefulSet");
        }
    }

    [Fact]
    public void TheDockerfileMountsTheBundlesParentAndWatches()
    {
        string dockerfile = File.ReadAllText(Path.Combine(Root, "Dockerfile"));
        Assert.Contains("VOLUME [\"/bundles\"]", dockerfile);
        Assert.Contains("\"--bundle\", \"/bundles/current\"", dockerfile);
        Assert.Contains("\"--watch\"", dockerfile);
    }
}
