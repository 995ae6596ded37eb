using VectorRecall.Data;
using VectorRecall.IO;

namespace VectorRecall.Tests.Data;

public class TableInteractionsTests
{
    private static string[] Keys(InteractionDataset d, ReadOnlySpan<int> rows) => [.. rows.ToArray().Select(r => d.ItemIds[r])];

    [Fact]
    public void StringIdsAndIsoDatesAreOrderedByTimeAndKept()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("my.csv"), """
            user_id,item_id,timestamp
            alice,sku-2,2025-03-01T10:00:00Z
            alice,sku-1,2025-01-01
            alice,"sku,3",2025-02-01T00:00:00+01:00
            bob,sku-1,2025-01-05T00:00:00Z
            bob,sku-2,2025-01-04T00:00:00Z
            """);
        var d = DatasetLoaders.LoadDelimited(dir.File("my.csv"));
        Assert.Equal(["alice", "bob"], Enumerable.Range(0, d.UserCount).Select(u => d.UserIds[u]));
        Assert.True(d.Chronological);
        Assert.Equal(["sku-1"], Keys(d, d.Train.Of(0)));
        Assert.Equal(["sku,3"], Keys(d, d.Validation.Of(0)));   // a quoted field keeps its comma
        Assert.Equal(["sku-2"], Keys(d, d.Test.Of(0)));
        Assert.Equal(["sku-2"], Keys(d, d.Train.Of(1)));
        Assert.Equal(["sku-1"], Keys(d, d.Test.Of(1)));
    }

    [Fact]
    public void TabsAreDetectedAndNamedColumnsAndRatingsApply()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("r.tsv"), "when\twho\twhat\tstars\n3\t7\tx\t5\n1\t7\ty\t1\n2\t7\tz\t4\n1\t8\tx\t5\n2\t8\tz\t5\n");
        var format = new TableFormat { UserColumn = "who", ItemColumn = "what", TimeColumn = "when", MinRating = 3 };
        var d = DatasetLoaders.LoadDelimited(dir.File("r.tsv"), format);
        Assert.Equal(["z"], Keys(d, d.Train.Of(0)));   // y was rated 1: dropped
        Assert.Equal(["x"], Keys(d, d.Test.Of(0)));
        Assert.True(d.UserIds.AllNumeric);
        Assert.Equal([7L, 8], d.UserIds.ToNumbers());
        // Headerless: user, item, time by position, with the separator given.
        File.WriteAllText(dir.File("p.txt"), "1;a;2\n1;b;1\n");
        var p = DatasetLoaders.LoadDelimited(dir.File("p.txt"), new TableFormat { Delimiter = ';' });
        Assert.Equal(["b"], Keys(p, p.Train.Of(0)));
    }

    [Theory]
    [InlineData("who,what\n1,2\n", "who", null, "no item column in the header (who, what); name it with --item-col")]
    [InlineData("user,item\n1,2\n", "customer", null, "no user column 'customer'")]
    [InlineData("user,item,time\n1,2,soon\n", null, null, "line 2: timestamp 'soon'")]
    [InlineData("user,item\n1,2\n", null, 3.0, "no rating column")]
    [InlineData("user,item,rating\n1,2,good\n", null, 3.0, "line 2: rating 'good'")]
    [InlineData("user,item\n,2\n", null, null, "line 2: the user id is empty")]
    [InlineData("user,item\n1,\"2\n", null, null, "r.csv")]
    public void BadFilesNameTheFileAndLine(string content, string? userColumn, double? minRating, string expected)
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("r.csv"), content);
        var format = new TableFormat { UserColumn = userColumn, MinRating = minRating };
        var e = Assert.Throws<FileFormatException>(() => DatasetLoaders.LoadDelimited(dir.File("r.csv"), format));
        Assert.Contains(dir.File("r.csv"), e.Message);
        Assert.Contains(expected, e.Message);
    }

    private sealed class Row
    {
        public string User { get; set; } = "";
        public long Item { get; set; }
        public DateTime Time { get; set; }
        public int? Rating { get; set; }
    }

    [Fact]
    public async Task ParquetColumnsAreFoundByNameWithTextOrIntegerIdsAndDates()
    {
        using var dir = new TempDir();
        var start = new DateTime(2025, 1, 1, 0, 0, 0, DateTimeKind.Utc);
        Row[] rows =
        [
            new() { User = "alice", Item = 20, Time = start.AddDays(3), Rating = 5 },
            new() { User = "alice", Item = 10, Time = start.AddDays(1), Rating = 4 },
            new() { User = "alice", Item = 30, Time = start.AddDays(2), Rating = 1 },
            new() { User = "alice", Item = 40, Time = start.AddDays(4), Rating = null },
            new() { User = "bob", Item = 10, Time = start.AddDays(2), Rating = 5 },
            new() { User = "bob", Item = 20, Time = start.AddDays(1), Rating = 5 },
        ];
        await using (var file = File.Create(dir.File("i.parquet"))) await Parquet.Serialization.ParquetSerializer.SerializeAsync(rows, file);
        var d = DatasetLoaders.Load("parquet", dir.File("i.parquet"), new TableFormat { MinRating = 3 });
        Assert.True(d.Chronological);
        Assert.Equal(["alice", "bob"], Enumerable.Range(0, d.UserCount).Select(u => d.UserIds[u]));
        Assert.True(d.ItemIds.AllNumeric);
        Assert.Equal(["10"], Keys(d, d.Train.Of(0)));        // 30 (rated 1) and 40 (no rating) dropped
        Assert.Equal(["20"], Keys(d, d.Test.Of(0)));
        Assert.Equal(["20"], Keys(d, d.Train.Of(1)));
        Assert.Equal(["10"], Keys(d, d.Test.Of(1)));

        var e = Assert.Throws<FileFormatException>(() => DatasetLoaders.LoadParquet(dir.File("i.parquet"), new TableFormat { UserColumn = "customer" }));
        Assert.Contains("no user column 'customer'", e.Message);
        File.WriteAllBytes(dir.File("bad.parquet"), [.. File.ReadAllBytes(dir.File("i.parquet")).Take(200)]);
        e = Assert.Throws<FileFormatException>(() => DatasetLoaders.LoadParquet(dir.File("bad.parquet")));
        Assert.Contains(dir.File("bad.parquet"), e.Message);
    }
}
