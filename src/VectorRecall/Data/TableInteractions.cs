using System.Globalization;
using nietras.SeparatedValues;
using VectorRecall.IO;

namespace VectorRecall.Data;

/// <summary>
/// How a table of interactions (CSV, TSV or Parquet) is laid out. Every field is optional: a CSV's delimiter is detected
/// from the first line (tab, comma, semicolon or bar), and columns are found by their names (<c>user</c>, <c>user_id</c>,
/// <c>userId</c>, <c>uid</c>; <c>item</c>, <c>item_id</c>, …; <c>timestamp</c>, <c>time</c>, <c>date</c>, …;
/// <c>rating</c>, <c>score</c>) or, in a CSV without a header, by position: user, item, then timestamp.
/// </summary>
public sealed record TableFormat
{
    /// <summary>CSV/TSV: the field separator; null detects it.</summary>
    public char? Delimiter { get; init; }
    /// <summary>Header name of the user id column (null: a usual name, or the first column).</summary>
    public string? UserColumn { get; init; }
    /// <summary>Header name of the item id column (null: a usual name, or the second column).</summary>
    public string? ItemColumn { get; init; }
    /// <summary>Header name of the time column (null: a usual name, or the third column when there is one): seconds, or ISO-8601.</summary>
    public string? TimeColumn { get; init; }
    /// <summary>Header name of the rating column (null: a usual name if present; none: every row counts).</summary>
    public string? RatingColumn { get; init; }
    /// <summary>Rows rated below this are dropped (needs a rating column).</summary>
    public double? MinRating { get; init; }

    internal bool NamesColumns => UserColumn is not null || ItemColumn is not null || TimeColumn is not null || RatingColumn is not null;
}

public static partial class DatasetLoaders
{
    private static readonly string[] UserNames = ["user", "user_id", "userid", "uid", "user id", "customer_id", "visitorid"];
    private static readonly string[] ItemNames = ["item", "item_id", "itemid", "iid", "item id", "product_id", "movie_id", "movieid", "asin"];
    private static readonly string[] TimeNames = ["timestamp", "time", "ts", "date", "datetime", "created_at", "event_time"];
    private static readonly string[] RatingNames = ["rating", "score", "stars"];

    /// <summary>
    /// A CSV or TSV of interactions, one per row (quoted fields allowed), laid out as <paramref name="format"/> says or as
    /// detected. Ids are kept as written — integers or any other text. Each user's items are ordered by time (file order
    /// when there is no time column, or on ties) and split leave-last-out; without a time column the data set is
    /// unordered. A bad row is refused with the file and its line.
    /// </summary>
    public static InteractionDataset LoadDelimited(string path, TableFormat? format = null, string name = "csv")
    {
        format ??= new TableFormat();
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: file not found", path);
        string first = File.ReadLines(path).FirstOrDefault(l => l.Trim().Length > 0) ?? throw new FileFormatException(path, "no interactions");
        char separator = format.Delimiter ?? DetectDelimiter(first);
        var firstFields = first.Split(separator).Select(f => f.Trim().Trim('"').Trim()).ToArray();
        bool header = format.NamesColumns || HasHeader(firstFields);
        try
        {
            using var reader = Sep.New(separator).Reader(o => o with { HasHeader = header, Unescape = true, Trim = SepTrim.All, DisableColCountCheck = true, DisableFastFloat = true }).FromFile(path);
            var names = header ? reader.Header.ColNames.Select(n => n.Trim()).ToArray() : [];
            int user = Column(names, format.UserColumn, UserNames, 0, "user", path, required: true)!.Value;
            int item = Column(names, format.ItemColumn, ItemNames, 1, "item", path, required: true)!.Value;
            int? time = Column(names, format.TimeColumn, TimeNames, header || firstFields.Length < 3 ? null : 2, "time", path, required: false);
            int? rating = header ? Column(names, format.RatingColumn, RatingNames, null, "rating", path, required: false) : null;
            if (format.MinRating is not null && rating is null)
                throw new FileFormatException(path, "a minimum rating is given but the file has no rating column (name it with --rating-col)");
            int needed = Math.Max(Math.Max(user, item), Math.Max(time ?? 0, rating ?? 0)) + 1;

            var rows = new InteractionRows();
            foreach (var row in reader)
            {
                // Sep 0.18 numbers a headerless file's first row as line 2 (the rows after it are right).
                int line = !header && row.RowIndex == 0 ? 1 : row.LineNumberFrom;
                if (row.ColCount == 1 && row[0].Span.Trim().IsEmpty) continue;  // a blank line
                if (row.ColCount < needed) throw new FileFormatException(path, $"line {line}: {row.ColCount} fields, at least {needed} expected (separator '{Printable(separator)}')");
                if (rating is { } r && format.MinRating is { } min && Number(row[r].ToString(), path, line, "rating") < min) continue;
                double t = time is { } c ? Time(row[c].ToString(), path, line) : 0;
                rows.Add(Id(row[user].ToString(), path, line, "user"), Id(row[item].ToString(), path, line, "item"), t);
            }
            return rows.Build(name, path, chronological: time is not null);
        }
        catch (Exception e) when (e is not FileFormatException and not IOException and not OutOfMemoryException)
        {
            // Sep's own complaints (an unterminated quote, duplicate header names) name no file.
            throw new FileFormatException(path, e.Message);
        }
    }

    /// <summary>Tab when the line has one (ids with commas are common in TSV), else the first of comma, semicolon, bar; else comma.</summary>
    private static char DetectDelimiter(string line)
    {
        foreach (char c in "\t,;|") if (line.Contains(c)) return c;
        return ',';
    }

    /// <summary>A first line is a header when one of its fields is a usual column name.</summary>
    private static bool HasHeader(string[] fields) =>
        fields.Any(f => UserNames.Contains(f, StringComparer.OrdinalIgnoreCase) || ItemNames.Contains(f, StringComparer.OrdinalIgnoreCase));

    /// <summary>
    /// A column's index: the named one (which must exist), else the first usual name present, else — in a table without
    /// names — the positional default. A <paramref name="required"/> column no name finds is an error saying how to name it.
    /// </summary>
    private static int? Column(string[] names, string? given, string[] usual, int? position, string what, string path, bool required)
    {
        if (given is not null)
        {
            int i = Array.FindIndex(names, n => n.Equals(given, StringComparison.OrdinalIgnoreCase));
            return i >= 0 ? i : throw new FileFormatException(path, $"no {what} column '{Excerpt.Of(given)}' in the header ({string.Join(", ", names.Select(n => Excerpt.Of(n)))})");
        }
        if (names.Length > 0)
        {
            int i = Array.FindIndex(names, n => usual.Contains(n, StringComparer.OrdinalIgnoreCase));
            if (i >= 0) return i;
            if (!required) return null;
            throw new FileFormatException(path, $"no {what} column in the header ({string.Join(", ", names.Select(n => Excerpt.Of(n)))}); name it with --{what}-col");
        }
        return position;
    }

    private static string Id(string text, string path, int line, string what) =>
        text.Length > 0 ? text : throw new FileFormatException(path, $"line {line}: the {what} id is empty");

    private static double Number(string text, string path, int line, string what) =>
        double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) && double.IsFinite(v)
            ? v : throw new FileFormatException(path, $"line {line}: {what} '{Excerpt.Of(text)}' is not a finite number");

    private static double Time(string text, string path, int line) =>
        ParseTime(text) ?? throw new FileFormatException(path, $"line {line}: {NotATime(text)}");

    /// <summary>Seconds (or any number on one scale), or an ISO-8601 date or date-time (UTC unless it says otherwise) as Unix seconds; null when neither.</summary>
    private static double? ParseTime(string text)
    {
        if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) && double.IsFinite(v)) return v;
        if (DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var when))
            return when.ToUnixTimeMilliseconds() / 1000.0;
        return null;
    }

    private static string NotATime(string text) => $"timestamp '{Excerpt.Of(text)}' is neither a number nor an ISO-8601 date";

    private static string Printable(char c) => c == '\t' ? "\\t" : c.ToString();
}

/// <summary>Interactions as a table's rows arrive (any reader): ids interned in order of first appearance, each user's items kept with their times.</summary>
internal sealed class InteractionRows
{
    private readonly IdMap _users = new(), _items = new();
    private readonly List<List<(double Time, int Order, int Item)>> _perUser = [];
    private int _order;

    public void Add(string user, string item, double time)
    {
        int u = _users.Intern(user);
        while (_perUser.Count <= u) _perUser.Add([]);
        _perUser[u].Add((time, _order++, _items.Intern(item)));
    }

    /// <summary>Each user's items by time (ties, and untimed tables, in row order), split leave-last-out.</summary>
    public InteractionDataset Build(string name, string path, bool chronological)
    {
        if (_items.Count == 0) throw new FileFormatException(path, "no interactions");
        var sequences = _perUser.Select(l => (IReadOnlyList<int>)l.OrderBy(e => e.Time).ThenBy(e => e.Order).Select(e => e.Item).ToList()).ToList();
        return DatasetLoaders.Build(name, path, _users, _items, sequences, attributesPath: null, chronological);
    }
}
