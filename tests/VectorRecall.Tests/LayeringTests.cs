using Mono.Cecil;

namespace VectorRecall.Tests;

/// <summary>
/// Namespaces are layers: each may use only the layers below it, and no paradigm another paradigm.
/// The test reads the compiled assemblies (signatures and method bodies, closures included) with
/// Mono.Cecil, so a dependency cannot hide in a fully qualified name or a lambda.
/// </summary>
public class LayeringTests
{
    /// <summary>The layers bottom up (the README's picture); a namespace may use only the layers below its own.</summary>
    internal static readonly string[][] Layers =
    [
        ["Numerics"],
        ["Autograd"],
        ["Nn", "Optim"],
        ["IO"],
        ["Data"],
        ["Indexing"],
        ["Training"],
        ["Retrieval"],
        ["Towers"],
        ["TwoTower", "Tdm", "SemanticIds"],
        ["Serving"],
        ["Server"],
        ["Cluster"],
        ["Cli"],
    ];

    private static int LayerOf(string ns) => Array.FindIndex(Layers, l => l.Contains(ns));

    [Fact]
    public void NoNamespaceUsesOneAboveItOrASiblingParadigm()
    {
        var uses = Dependencies();
        Assert.NotEmpty(uses);
        var unknown = uses.Keys.Concat(uses.Values.SelectMany(v => v)).Distinct().Where(ns => LayerOf(ns) < 0).ToList();
        Assert.True(unknown.Count == 0, $"namespaces not in the layer picture: {string.Join(", ", unknown)}");
        var wrong = new List<string>();
        foreach (var (from, targets) in uses)
            foreach (var to in targets)
            {
                int a = LayerOf(from), b = LayerOf(to);
                if (a > b) continue;
                wrong.Add($"{from} -> {to}");
            }
        Assert.True(wrong.Count == 0, "layering broken: " + string.Join("; ", wrong.Order()));
    }

    [Fact]
    public void TheTestSeesAKnownDependencyAndWouldSeeAnUpwardOne()
    {
        var uses = Dependencies();
        Assert.Contains("Numerics", uses["Autograd"]);
        Assert.Contains("Retrieval", uses["Tdm"]);
        Assert.DoesNotContain("TwoTower", uses["Tdm"]);
        Assert.True(LayerOf("Serving") > LayerOf("SemanticIds") && LayerOf("Retrieval") < LayerOf("Tdm"));
    }

    /// <summary>For each VectorRecall namespace (its second segment), the other VectorRecall namespaces its types use.</summary>
    internal static Dictionary<string, HashSet<string>> Dependencies()
    {
        var result = new Dictionary<string, HashSet<string>>();
        foreach (var assembly in new[] { typeof(VectorRecall.Numerics.Tensor).Assembly, typeof(VectorRecall.Server.RecallServer).Assembly, typeof(VectorRecall.Cluster.ShardedSearch).Assembly, typeof(VectorRecall.Cli.Program).Assembly })
        {
            using var module = ModuleDefinition.ReadModule(assembly.Location);
            foreach (var type in module.GetTypes())
            {
                var from = LayerName(type);
                if (from is null) continue;
                var set = result.TryGetValue(from, out var s) ? s : result[from] = [];
                foreach (var used in Referenced(type).SelectMany(Unwrap))
                    if (LayerName(used) is { } to && to != from) set.Add(to);
            }
        }
        return result;
    }

    /// <summary>"Numerics" for VectorRecall.Numerics.Tensor (nested and generated types by their outermost type); null outside the library's layers.</summary>
    private static string? LayerName(TypeReference type)
    {
        while (type.DeclaringType is not null) type = type.DeclaringType;
        var parts = type.Namespace.Split('.');
        if (parts[0] != "VectorRecall" || parts.Length < 2) return null;
        return parts[1];
    }

    private static IEnumerable<TypeReference> Referenced(TypeDefinition type)
    {
        if (type.BaseType is not null) yield return type.BaseType;
        foreach (var i in type.Interfaces) yield return i.InterfaceType;
        foreach (var f in type.Fields) yield return f.FieldType;
        foreach (var p in type.Properties) yield return p.PropertyType;
        foreach (var m in type.Methods)
        {
            yield return m.ReturnType;
            foreach (var p in m.Parameters) yield return p.ParameterType;
            if (!m.HasBody) continue;
            foreach (var v in m.Body.Variables) yield return v.VariableType;
            foreach (var instruction in m.Body.Instructions)
                switch (instruction.Operand)
                {
                    case TypeReference t: yield return t; break;
                    case MethodReference r:
                        yield return r.DeclaringType;
                        yield return r.ReturnType;
                        foreach (var p in r.Parameters) yield return p.ParameterType;
                        break;
                    case FieldReference f: yield return f.DeclaringType; yield return f.FieldType; break;
                }
        }
        foreach (var a in type.CustomAttributes) yield return a.AttributeType;
    }

    /// <summary>A type and what it is built from: generic arguments, array and pointer element types.</summary>
    private static IEnumerable<TypeReference> Unwrap(TypeReference type)
    {
        if (type is GenericInstanceType generic)
        {
            yield return generic.ElementType;
            foreach (var t in generic.GenericArguments.SelectMany(Unwrap)) yield return t;
        }
        else if (type is TypeSpecification spec)
        {
            foreach (var t in Unwrap(spec.ElementType)) yield return t;
        }
        else yield return type;
    }
}
