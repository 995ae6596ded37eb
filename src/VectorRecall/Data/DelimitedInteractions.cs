using System.Globalization;
using nietras.SeparatedValues;
using VectorRecall.IO;

namespace VectorRecall.Data;

/// <summary>
/// How a CSV or TSV file of interactions is laid out. Every field is optional: the delimiter is detected from the first
/// line (tab, comma, semicolon or bar), and columns are found by their header names (<c>user</c>, <c>user_id</c>,
/// <c>userId</c>, <c>uid</c>; <c>item</c>, <c>item_id</c>, …; <c>timestamp</c>, <c>time</c>, <c>date</c>, …;
/// <c>rating</c>, <c>score</c>) or, in a file without a header, by position: user, item, then timestamp.
/// </summary>
public sealed record DelimitedFormat
{
    /// <summary>The field separator; null detects it.</summary>
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
    public static InteractionDataset LoadDelimited(string path, DelimitedFormat? format = null, string name = "csv")
    {
        format ??= new DelimitedFormat();
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: file not found", path);
        string first = File.ReadLines(path).FirstOrDefault(l => l.Trim().Length > 0) ?? throw new FileFormatException(path, "no interactions");
        char separator = format.Delimiter ?? DetectDelimiter(first);
        var firstFields = first.Split(separator).Select(f => f.Trim().Trim('"').Trim()).ToArray();
        bool header = format.NamesColumns || HasHeader(firstFields);
        try
        {
            using var reader = Sep.New(separator).Reader(o => o with { HasHeader = header, Unescape = true, Trim = SepTrim.All, DisableColCountCheck = true, DisableFastFloat = true }).FromFile(path);
            var names = header ? reader.Header.ColNames.Select(n => n.Trim()).ToArray() : [];
            int user = Column(names, format.UserColumn, UserNames, 0, "user", path)!.Value;
            int item = Column(names, format.ItemColumn, ItemNames, 1, "item", path)!.Value;
            int? time = Column(names, format.TimeColumn, TimeNames, header || firstFields.Length < 3 ? null : 2, "time", path);
            int? rating = header ? Column(names, format.RatingColumn, RatingNames, null, "rating", path) : null;
            if (format.MinRating is not null && rating is null)
                throw new FileFormatException(path, "a minimum rating is given but the file has no rating column (name it with --rating-col)");
            int needed = Math.Max(Math.Max(user, item), Math.Max(time ?? 0, rating ?? 0)) + 1;

            var users = new IdMap();
            var items = new IdMap();
            var perUser = new List<List<(double Time, int Order, int Item)>>();
            int order = 0;
            foreach (var row in reader)
            {
                // Sep 0.18 numbers a headerless file's first row as line 2 (the rows after it are right).
                int line = !header && row.RowIndex == 0 ? 1 : row.LineNumberFrom;
                if (row.ColCount == 1 && row[0].Span.Trim().IsEmpty) continue;  // a blank line
                if (row.ColCount < needed) throw new FileFormatException(path, $"line {line}: {row.ColCount} fields, at least {needed} expected (separator '{Printable(separator)}')");
                if (rating is { } r && format.MinRating is { } min && Number(row[r].ToString(), path, line, "rating") < min) continue;
                string userId = Id(row[user].ToString(), path, line, "user");
                string itemId = Id(row[item].ToString(), path, line, "item");
                double t = time is { } c ? Time(row[c].ToString(), path, line) : 0;
                int u = users.Intern(userId);
                while (perUser.Count <= u) perUser.Add([]);
                perUser[u].Add((t, order++, items.Intern(itemId)));
            }
            if (items.Count == 0) throw new FileFormatException(path, "no interactions");
            var sequences = perUser.Select(l => (IReadOnlyList<int>)l.OrderBy(e => e.Time).ThenBy(e => e.Order).Select(e => e.Item).ToList()).ToList();
            return Build(name, path, users, items, sequences, attributesPath: null, chronological: time is not null);
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

    /// <summary>A column's index: the named one (which must exist), else the first usual name present, else the positional default.</summary>
    private static int? Column(string[] names, string? given, string[] usual, int? position, string what, string path)
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
            if (position is null || what is "time") return null;
            throw new FileFormatException(path, $"no {what} column in the header ({string.Join(", ", names.Select(n => Excerpt.Of(n)))}); name it with --{what}-col");
        }
        return position;
    }

    private static string Id(string text, string path, int line, string what) =>
        text.Length > 0 ? text : throw new FileFormatException(path, $"line {line}: the {what} id is empty");

    private static double Number(string text, string path, int line, string what) =>
        double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) && double.IsFinite(v)
            ? v : throw new FileFormatException(path, $"line {line}: {what} '{Excerpt.Of(text)}' is not a finite number");

    /// <summary>Seconds (or any number on one scale), or an ISO-8601 date or date-time (UTC unless it says otherwise) as Unix seconds.</summary>
    private static double Time(string text, string path, int line)
    {
        if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) && double.IsFinite(v)) return v;
        if (DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var when))
            return when.ToUnixTimeMilliseconds() / 1000.0;
        throw new FileFormatException(path, $"line {line}: timestamp '{Excerpt.Of(text)}' is neither a number nor an ISO-8601 date");
    }

    private static string Printable(char c) => c == '\t' ? "\\t" : c.ToString();
}
