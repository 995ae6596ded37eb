using System.Globalization;
using Parquet;
using Parquet.Schema;
using VectorRecall.IO;

namespace VectorRecall.Data;

public static partial class DatasetLoaders
{
    /// <summary>Rows a Parquet file may claim per byte of its size: its encodings pack ids tightly, but a footer claiming far more is not believed.</summary>
    private const long MaxRowsPerByte = 64;

    /// <summary>
    /// A Parquet file of interactions: the user, item, optional time and rating columns found by name as in a CSV
    /// (<see cref="TableFormat"/>). Ids may be integer or text columns; times numbers, dates or ISO-8601 text. Rows with a
    /// missing user or item are refused with the row group and row. Everything else as <see cref="LoadDelimited"/>.
    /// </summary>
    public static InteractionDataset LoadParquet(string path, TableFormat? format = null, string name = "parquet")
    {
        format ??= new TableFormat();
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: file not found", path);
        try { return ReadParquet(path, format, name).GetAwaiter().GetResult(); }
        catch (Exception e) when (e is not FileFormatException and not FileNotFoundException and not OutOfMemoryException and not OperationCanceledException)
        {
            // The library's own complaints (a bad magic number, a corrupt footer or page) name no file.
            throw new FileFormatException(path, $"not a readable Parquet file: {e.Message}");
        }
    }

    private static async Task<InteractionDataset> ReadParquet(string path, TableFormat format, string name)
    {
        long bytes = new FileInfo(path).Length;
        await using var stream = File.OpenRead(path);
        await using var reader = await ParquetReader.CreateAsync(stream);
        var fields = reader.Schema.GetDataFields();
        var names = fields.Select(f => f.Name).ToArray();
        var user = fields[Column(names, format.UserColumn, UserNames, null, "user", path, required: true)!.Value];
        var item = fields[Column(names, format.ItemColumn, ItemNames, null, "item", path, required: true)!.Value];
        var time = Column(names, format.TimeColumn, TimeNames, null, "time", path, required: false) is { } t ? fields[t] : null;
        var rating = Column(names, format.RatingColumn, RatingNames, null, "rating", path, required: false) is { } r ? fields[r] : null;
        if (format.MinRating is not null && rating is null)
            throw new FileFormatException(path, "a minimum rating is given but the file has no rating column (name it with --rating-col)");
        long claimed = 0;
        for (int g = 0; g < reader.RowGroupCount; g++) claimed += reader.RowGroups[g].RowCount;
        if (claimed > Math.Max(1 << 16, bytes * MaxRowsPerByte) || claimed > int.MaxValue)
            throw new FileFormatException(path, $"claims {claimed:N0} rows in {bytes:N0} bytes; that is not believed");

        var rows = new InteractionRows();
        for (int g = 0; g < reader.RowGroupCount; g++)
        {
            using var group = reader.OpenRowGroupReader(g);
            int n = checked((int)group.RowCount);
            var users = await Texts(group, user, n);
            var items = await Texts(group, item, n);
            var times = time is null ? null : await Times(group, time, n, path, g);
            var ratings = rating is null ? null : await Times(group, rating, n, path, g);
            for (int i = 0; i < n; i++)
            {
                if (ratings is not null && format.MinRating is { } min && !(ratings[i] >= min)) continue;
                string u = users[i] ?? throw new FileFormatException(path, $"row group {g}, row {i}: the user id is missing");
                string it = items[i] ?? throw new FileFormatException(path, $"row group {g}, row {i}: the item id is missing");
                if (u.Length == 0 || it.Length == 0) throw new FileFormatException(path, $"row group {g}, row {i}: an id is empty");
                rows.Add(u, it, times?[i] ?? 0);
            }
        }
        return rows.Build(name, path, chronological: time is not null);
    }

    /// <summary>An id column as text: integers in their canonical form (so that they match the same ids given as numbers), text as it is.</summary>
    private static async Task<string?[]> Texts(ParquetRowGroupReader group, DataField field, int n)
    {
        // Integers are read as themselves, not through doubles: ids past 2^53 keep every digit.
        var type = Nullable.GetUnderlyingType(field.ClrType) ?? field.ClrType;
        if (type == typeof(long)) return AsText(await Read<long>(group, field, n));
        if (type == typeof(int)) return AsText(await Read<int>(group, field, n));
        if (type == typeof(short)) return AsText(await Read<short>(group, field, n));
        if (type == typeof(uint)) return AsText(await Read<uint>(group, field, n));
        if (type == typeof(ulong)) return AsText(await Read<ulong>(group, field, n));
        var texts = new string?[n];
        await group.ReadAsync(field, texts.AsMemory());
        return texts;

        static string?[] AsText<T>(T?[] v) where T : struct, IFormattable => [.. v.Select(x => x?.ToString(null, CultureInfo.InvariantCulture))];
    }

    /// <summary>A time or rating column as numbers: numbers as they are, dates as Unix seconds, text parsed as a CSV's; missing values NaN.</summary>
    private static async Task<double[]> Times(ParquetRowGroupReader group, DataField field, int n, string path, int g)
    {
        var type = Nullable.GetUnderlyingType(field.ClrType) ?? field.ClrType;
        if (type == typeof(DateTime))
        {
            var dates = new DateTime?[n];
            await group.ReadAsync(field, dates.AsMemory());
            return [.. dates.Select(d => d is { } x ? new DateTimeOffset(DateTime.SpecifyKind(x, x.Kind == DateTimeKind.Unspecified ? DateTimeKind.Utc : x.Kind)).ToUnixTimeMilliseconds() / 1000.0 : double.NaN)];
        }
        if (type == typeof(DateTimeOffset))
        {
            var dates = new DateTimeOffset?[n];
            await group.ReadAsync(field, dates.AsMemory());
            return [.. dates.Select(d => d is { } x ? x.ToUnixTimeMilliseconds() / 1000.0 : double.NaN)];
        }
        if (type == typeof(string) || type == typeof(ReadOnlyMemory<char>))
        {
            var texts = new string?[n];
            await group.ReadAsync(field, texts.AsMemory());
            return [.. texts.Select((s, i) => s is null ? double.NaN : ParseTime(s) ?? throw new FileFormatException(path, $"row group {g}, row {i}: {NotATime(s)}"))];
        }
        var values = await Numbers(group, field, n);
        return [.. values.Select(v => v ?? double.NaN)];
    }

    /// <summary>A numeric column of any width as doubles (null where missing).</summary>
    private static async Task<double?[]> Numbers(ParquetRowGroupReader group, DataField field, int n)
    {
        var type = Nullable.GetUnderlyingType(field.ClrType) ?? field.ClrType;
        if (type == typeof(long)) return Widen(await Read<long>(group, field, n));
        if (type == typeof(int)) return Widen(await Read<int>(group, field, n));
        if (type == typeof(short)) return Widen(await Read<short>(group, field, n));
        if (type == typeof(uint)) return Widen(await Read<uint>(group, field, n));
        if (type == typeof(ulong)) return Widen(await Read<ulong>(group, field, n));
        if (type == typeof(float)) return Widen(await Read<float>(group, field, n));
        if (type == typeof(double)) return await Read<double>(group, field, n);
        if (type == typeof(decimal)) return Widen(await Read<decimal>(group, field, n));
        throw new ArgumentException($"column '{field.Name}' holds {type.Name}, not numbers, dates or text");

        static double?[] Widen<T>(T?[] v) where T : struct, IConvertible => [.. v.Select(x => x is { } y ? (double?)y.ToDouble(CultureInfo.InvariantCulture) : null)];
    }

    private static async Task<T?[]> Read<T>(ParquetRowGroupReader group, DataField field, int n) where T : struct
    {
        var values = new T?[n];
        if (field.IsNullable) await group.ReadAsync(field, values.AsMemory());
        else
        {
            var plain = new T[n];
            await group.ReadAsync(field, plain.AsMemory());
            for (int i = 0; i < n; i++) values[i] = plain[i];
        }
        return values;
    }
}
