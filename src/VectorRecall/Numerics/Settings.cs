namespace VectorRecall.Numerics;

/// <summary>
/// Validation of a settings record: an <see cref="ArgumentException"/> whose <see cref="ArgumentException.ParamName"/>
/// is the property, so a front end can name it its own way (the CLI names the flag).
/// </summary>
internal static class Settings
{
    public static void Check(bool ok, string property, string problem)
    {
        if (!ok) throw new SettingException(property, problem);
    }
}

/// <summary>A setting out of range: <see cref="Property"/> is its name, <see cref="Problem"/> what is wrong ("must be positive, got 0").</summary>
public sealed class SettingException(string property, string problem) : ArgumentException($"{property} {problem}", property)
{
    public string Property { get; } = property;
    public string Problem { get; } = problem;
    public override string Message => $"{Property} {Problem}";
}
