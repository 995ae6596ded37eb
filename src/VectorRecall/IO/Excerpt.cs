namespace VectorRecall.IO;

/// <summary>Input quoted in an error message: cut to a bounded length, so hostile input cannot flood a message, a log or an answer.</summary>
internal static class Excerpt
{
    public const int MaxLength = 64;

    public static string Of(string text) => text.Length <= MaxLength ? text : string.Concat(text.AsSpan(0, MaxLength), "…");
}
