namespace VectorRecall.Tests;

/// <summary>A fact that renders a page in headless Chromium (Debian's <c>chromium</c> package); skipped, saying so, where it is not installed.</summary>
public sealed class ChromiumFactAttribute : FactAttribute
{
    public static readonly string? Path = new[] { "/usr/bin/chromium", "/usr/bin/chromium-browser" }.FirstOrDefault(File.Exists);

    public ChromiumFactAttribute()
    {
        if (Path is null) Skip = "needs Debian's chromium package (apt-get install chromium), which is not installed";
    }
}
