using VectorRecall.Autograd;
using VectorRecall.Numerics;

namespace VectorRecall.Nn;

/// <summary>
/// The base of every layer and model, in the manner of PyTorch's <c>nn.Module</c>: a module
/// registers its parameters, buffers (non-learned state such as running statistics) and child
/// modules under names; <see cref="Parameters"/>, <see cref="StateDict"/> and <see cref="Train"/>
/// walk that tree. Names join with dots, as in PyTorch ("mlp.0.weight").
/// </summary>
public abstract class Module
{
    private readonly List<(string Name, Parameter Value)> _parameters = [];
    private readonly List<(string Name, Tensor Value)> _buffers = [];
    private readonly List<(string Name, Module Value)> _children = [];

    /// <summary>True in training mode (dropout active, batch norm uses batch statistics).</summary>
    public bool Training { get; private set; } = true;

    protected Parameter RegisterParameter(string name, Parameter parameter)
    {
        CheckName(name);
        _parameters.Add((name, parameter));
        return parameter;
    }

    protected Tensor RegisterBuffer(string name, Tensor buffer)
    {
        CheckName(name);
        _buffers.Add((name, buffer));
        return buffer;
    }

    protected T RegisterModule<T>(string name, T module) where T : Module
    {
        CheckName(name);
        _children.Add((name, module));
        return module;
    }

    public IEnumerable<(string Name, Module Module)> NamedChildren() => _children;

    public IEnumerable<(string Name, Parameter Parameter)> NamedParameters()
    {
        foreach (var (name, p) in _parameters) yield return (name, p);
        foreach (var (childName, child) in _children)
            foreach (var (name, p) in child.NamedParameters()) yield return ($"{childName}.{name}", p);
    }

    public IEnumerable<(string Name, Tensor Buffer)> NamedBuffers()
    {
        foreach (var (name, b) in _buffers) yield return (name, b);
        foreach (var (childName, child) in _children)
            foreach (var (name, b) in child.NamedBuffers()) yield return ($"{childName}.{name}", b);
    }

    public IEnumerable<Parameter> Parameters() => NamedParameters().Select(p => p.Parameter);

    public long ParameterCount => Parameters().Sum(p => (long)p.Value.Length);

    /// <summary>Sets training mode on this module and all below it; returns this module.</summary>
    public Module Train(bool training = true)
    {
        Training = training;
        foreach (var (_, child) in _children) child.Train(training);
        return this;
    }

    /// <summary>Evaluation mode: <c>Train(false)</c>.</summary>
    public Module Eval() => Train(false);

    public void ZeroGrad()
    {
        foreach (var p in Parameters()) p.ZeroGrad();
    }

    /// <summary>Every parameter and buffer by name. The tensors are the module's own, not copies.</summary>
    public Dictionary<string, Tensor> StateDict()
    {
        var state = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (name, p) in NamedParameters()) state.Add(name, p.Value);
        foreach (var (name, b) in NamedBuffers()) state.Add(name, b);
        return state;
    }

    /// <summary>
    /// Copies values into this module's parameters and buffers. Every entry must match a tensor of
    /// the same shape; with <paramref name="strict"/>, every tensor of the module must be present too.
    /// Nothing is changed unless the whole state fits.
    /// </summary>
    public void LoadStateDict(IReadOnlyDictionary<string, Tensor> state, bool strict = true)
    {
        var own = StateDict();
        foreach (var (name, value) in state)
        {
            if (!own.TryGetValue(name, out var target))
            {
                if (strict) throw new InvalidDataException($"unexpected tensor '{name}': the module has no parameter or buffer of that name");
                continue;
            }
            if (!target.SameShape(value))
                throw new InvalidDataException($"tensor '{name}' has shape {Tensor.ShapeString(value.Shape)}, the module expects {Tensor.ShapeString(target.Shape)}");
        }
        if (strict)
        {
            var missing = own.Keys.Where(k => !state.ContainsKey(k)).ToList();
            if (missing.Count > 0) throw new InvalidDataException($"missing tensors: {string.Join(", ", missing)}");
        }
        foreach (var (name, value) in state)
            if (own.TryGetValue(name, out var target)) target.CopyFrom(value);
    }

    private void CheckName(string name)
    {
        if (string.IsNullOrEmpty(name) || name.Contains('.')) throw new ArgumentException($"invalid name '{name}': names are non-empty and contain no dots");
        if (_parameters.Any(p => p.Name == name) || _buffers.Any(b => b.Name == name) || _children.Any(c => c.Name == name))
            throw new ArgumentException($"'{name}' is already registered in {GetType().Name}");
    }
}

/// <summary>A module with one input and one output, so that it can sit in a <see cref="Sequential"/>.</summary>
public abstract class Layer : Module
{
    public abstract Variable Forward(Variable input);
}
