using System.CommandLine;
using VectorRecall.Data;

namespace VectorRecall.Cli.Commands;

/// <summary>
/// How commands that read interactions name them: <c>--data</c> (a file or folder; <c>--dataset</c> says which format, and is
/// inferred from a .csv, .tsv, .parquet, .txt or .json file's extension) and the CSV/TSV layout flags, one vocabulary for train, demo and eval.
/// </summary>
internal sealed class DataOptions
{
    public readonly Option<string?> Data = new("--data", "--data_dir") { Description = "your interactions: a CSV, TSV or Parquet file (user, item, optional time), or a data set's folder or file (see --dataset)" };
    public readonly Option<char?> Delimiter = new("--delimiter") { Description = "CSV/TSV field separator (default: detected from the first line: tab, comma, semicolon or bar)", CustomParser = ParseDelimiter };
    public readonly Option<string?> UserColumn = new("--user-col") { Description = "CSV/TSV/Parquet name of the user id column (default: user, user_id, userId, uid, … or the first column)" };
    public readonly Option<string?> ItemColumn = new("--item-col") { Description = "CSV/TSV/Parquet name of the item id column (default: item, item_id, itemId, … or the second column)" };
    public readonly Option<string?> TimeColumn = new("--time-col") { Description = "CSV/TSV/Parquet name of the time column: numbers or ISO-8601 dates (default: timestamp, time, date, … or the third column)" };
    public readonly Option<string?> RatingColumn = new("--rating-col") { Description = "CSV/TSV/Parquet name of a rating column (default: rating or score when present)" };
    public readonly Option<double?> MinRating = new("--min-rating") { Description = "keep only rows rated at least this (default: keep every row)" };

    public IEnumerable<Option> All => [Data, Delimiter, UserColumn, ItemColumn, TimeColumn, RatingColumn, MinRating];

    public TableFormat Format(ParseResult r) => new()
    {
        Delimiter = r.GetValue(Delimiter),
        UserColumn = r.GetValue(UserColumn),
        ItemColumn = r.GetValue(ItemColumn),
        TimeColumn = r.GetValue(TimeColumn),
        RatingColumn = r.GetValue(RatingColumn),
        MinRating = r.GetValue(MinRating),
    };

    /// <summary>The data set format: as given, else from the file's extension (.csv, .tsv; .txt is a sequence file), else null.</summary>
    public static string? InferDataset(string? given, string? data)
    {
        if (given is not null || data is null) return given;
        return Path.GetExtension(data).ToLowerInvariant() switch
        {
            ".csv" => "csv",
            ".tsv" or ".tab" => "tsv",
            ".parquet" => "parquet",
            ".txt" => "sequences",
            ".json" => "json",
            _ => null,
        };
    }

    /// <summary>The data set format of <paramref name="data"/>: given, or inferred, or refused with one line saying how to give it.</summary>
    public static string RequireDataset(string? given, string data) => InferDataset(given, data) ?? throw UnknownFormat(data);

    /// <summary>A --data whose format is neither given nor inferable.</summary>
    public static ArgumentException UnknownFormat(string data) =>
        new($"--data {data}: say its format with --dataset ({string.Join(", ", DatasetLoaders.Names)}); it is inferred only for .csv, .tsv, .parquet, .txt and .json files");

    private static char? ParseDelimiter(System.CommandLine.Parsing.ArgumentResult result)
    {
        string text = result.Tokens.Count > 0 ? result.Tokens[0].Value : "";
        switch (text)
        {
            case "\\t" or "tab" or "\t": return '\t';
            case { Length: 1 }: return text[0];
            default:
                result.AddError($"--delimiter must be one character (or \\t / tab), got '{text}'");
                return null;
        }
    }
}
