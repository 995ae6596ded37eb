using VectorRecall.Data;
using VectorRecall.IO;

namespace VectorRecall.Tests.Data;

public class DatasetLoaderTests
{
    [Fact]
    public void LeaveLastOutSplitsAHandMadeSequenceFile()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("seq.txt"), "1 10 11 12 13\n2 20 10\n3 30\n\n4 11 12 20\n");
        var d = DatasetLoaders.LoadSequences(dir.File("seq.txt"));
        Assert.Equal(4, d.UserCount);
        Assert.Equal([10L, 11, 12, 13, 20, 30], d.ItemIds.ToNumbers());  // first appearance order
        int I(long id) => Array.IndexOf(d.ItemIds.ToNumbers(), id);
        // User 1: 10 11 12 13 → train 10 11, validation 12, test 13.
        Assert.Equal([I(10), I(11)], d.Train.Of(0).ToArray());
        Assert.Equal([I(12)], d.Validation.Of(0).ToArray());
        Assert.Equal([I(13)], d.Test.Of(0).ToArray());
        // Two items: one to train, one to test; one item: train only.
        Assert.Equal([I(20)], d.Train.Of(1).ToArray());
        Assert.Empty(d.Validation.Of(1).ToArray());
        Assert.Equal([I(10)], d.Test.Of(1).ToArray());
        Assert.Equal([I(30)], d.Train.Of(2).ToArray());
        Assert.Empty(d.Test.Of(2).ToArray());
        Assert.Contains("4 users, 6 items, 10 interactions", d.Describe());
    }

    [Fact]
    public void SequenceAttributesMapToDenseIds()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("seq.txt"), "1 5 6 7\n");
        File.WriteAllText(dir.File("attr.json"), "{\"5\": [100, 200], \"7\": [200], \"99\": [300]}");
        var d = DatasetLoaders.LoadSequences(dir.File("seq.txt"), dir.File("attr.json"));
        Assert.Equal(2, d.AttributeCount);  // 300 belongs to an item no one interacted with
        Assert.Equal([0, 1], d.ItemAttributes!.Of(0).ToArray());
        Assert.Empty(d.ItemAttributes.Of(1).ToArray());
        Assert.Equal([1], d.ItemAttributes.Of(2).ToArray());
    }

    [Fact]
    public void LightGcnFilesKeepTheirIdsAndHaveNoValidation()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("train.txt"), "0 0 1 2\n1 2 3\n2 4\n");
        File.WriteAllText(dir.File("test.txt"), "0 3\n1 0 4\n");
        var d = DatasetLoaders.LoadLightGcn(dir.Path);
        Assert.Equal(3, d.UserCount);
        Assert.Equal(5, d.ItemCount);
        Assert.Equal([0, 1, 2], d.Train.Of(0).ToArray());
        Assert.Equal([0, 4], d.Test.Of(1).ToArray());
        Assert.Empty(d.Test.Of(2).ToArray());
        Assert.Equal(0, d.Validation.Count);
        Assert.False(d.Chronological);
        Assert.Contains("unordered", d.Describe());
    }

    [Fact]
    public void UnorderedTrainListsAreShuffledPerUserForTraining()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("train.txt"), "0 " + string.Join(' ', Enumerable.Range(0, 40)) + "\n1 5 6\n");
        File.WriteAllText(dir.File("test.txt"), "0 40\n");
        var d = DatasetLoaders.LoadLightGcn(dir.Path);
        var data = RecDataset.FromInteractions(d);
        Assert.False(data.Chronological);
        // Not in file (id) order: "most recent" must not mean "highest ids".
        Assert.NotEqual(d.Train.Of(0).ToArray()[..39], data.Train.Of(0).ToArray());
        // No validation in the files: one train item of each user with three or more is held out for it.
        Assert.Equal(39, data.Train.CountOf(0));
        var held = Assert.Single(data.Validation.Of(0).ToArray());
        Assert.Equal(d.Train.Of(0).ToArray().Order(), data.Train.Of(0).ToArray().Append(held).Order());
        Assert.Equal(d.Train.Of(1).ToArray().Order(), data.Train.Of(1).ToArray().Order());
        Assert.Empty(data.Validation.Of(1).ToArray());
        Assert.Equal(d.Test.Items, data.Test.Items);
        Assert.Equal(data.Train.Of(0).ToArray(), RecDataset.FromInteractions(d).Train.Of(0).ToArray());  // deterministic
    }

    [Fact]
    public void JsonAndCsvInteractionsAreOrderedAndSplit()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("inter.json"), "{\"0\": [3, 4, 5], \"1\": [4, 6]}");
        var j = DatasetLoaders.LoadInteractionJson(dir.File("inter.json"));
        Assert.Equal(2, j.UserCount);
        Assert.Equal([5L], j.Test.Of(0).ToArray().Select(i => j.ItemIds.ToNumbers()[i]));
        // CSV with a header and timestamps out of order: sorted per user by time, ties in file order.
        File.WriteAllText(dir.File("x.csv"), "user,item,ts\n7,1,30\n7,2,10\n7,3,20\n8,1,5\n8,2,5\n");
        var c = DatasetLoaders.LoadDelimited(dir.File("x.csv"));
        long[] Items(ReadOnlySpan<int> s) => c.ItemIds.ToNumbers(s);
        Assert.Equal([2L], Items(c.Train.Of(0)));
        Assert.Equal([3L], Items(c.Validation.Of(0)));
        Assert.Equal([1L], Items(c.Test.Of(0)));
        Assert.Equal([1L], Items(c.Train.Of(1)));
        Assert.Equal([2L], Items(c.Test.Of(1)));
        Assert.True(c.Chronological && j.Chronological);
        File.WriteAllText(dir.File("y.csv"), "7,1\n7,2\n");
        Assert.False(DatasetLoaders.LoadDelimited(dir.File("y.csv")).Chronological);  // no timestamps: a set
    }

    [Theory]
    [InlineData("seq.txt", "1 10 x 12\n", "line 1: item id 'x'")]
    [InlineData("seq.txt", "1 10\n2 3\n1 4\n", "line 3: user 1 appears a second time")]
    [InlineData("seq.txt", "-1 10\n", "line 1: user id '-1'")]
    [InlineData("x.csv", "1,2\n3\n", "line 2: 1 fields, at least 2 expected")]
    [InlineData("x.csv", "1,2,5\n3,4\n", "line 2: 2 fields, at least 3 expected")]
    [InlineData("x.csv", "1,2,soon\n", "line 1: timestamp 'soon'")]
    [InlineData("inter.json", "{\"0\": [1, \"a\"]}", "user \"0\": item \"a\"")]
    [InlineData("inter.json", "[1, 2]", "expected a JSON object")]
    [InlineData("inter.json", "{\"0\": [1, 2}", "not valid JSON")]
    public void MalformedInputNamesTheFileAndLine(string file, string content, string expected)
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File(file), content);
        var e = Assert.Throws<FileFormatException>(() =>
        {
            _ = file.EndsWith(".csv") ? DatasetLoaders.LoadDelimited(dir.File(file))
                : file.EndsWith(".json") ? DatasetLoaders.LoadInteractionJson(dir.File(file))
                : DatasetLoaders.LoadSequences(dir.File(file));
        });
        Assert.Contains(file, e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void MissingFilesAndDuplicateLightGcnUsersAreReported()
    {
        using var dir = new TempDir();
        Assert.Throws<FileNotFoundException>(() => DatasetLoaders.LoadLightGcn(dir.Path));
        File.WriteAllText(dir.File("train.txt"), "0 1\n0 2\n");
        File.WriteAllText(dir.File("test.txt"), "0 3\n");
        Assert.Contains("line 2: user 0 appears a second time", Assert.Throws<FileFormatException>(() => DatasetLoaders.LoadLightGcn(dir.Path)).Message);
    }

    [SharedDataFact("gowalla")]
    public void GowallaHasThePublishedCounts()
    {
        var d = DatasetLoaders.LoadLightGcn(SharedData.Path("gowalla"), "gowalla");
        Assert.Equal(29_858, d.UserCount);
        Assert.Equal(40_981, d.ItemCount);
        Assert.Equal(810_128, d.Train.Count);
        Assert.Equal(217_242, d.Test.Count);
    }

    [SharedDataFact("amazon-beauty")]
    public void BeautyHasThePublishedCounts()
    {
        var d = DatasetLoaders.LoadSequences(SharedData.Path("amazon-beauty/Beauty.txt"), SharedData.Path("amazon-beauty/Beauty_item2attributes.json"), "beauty");
        Assert.Equal(22_363, d.UserCount);
        Assert.Equal(12_101, d.ItemCount);
        Assert.Equal(198_502, d.Train.Count + d.Validation.Count + d.Test.Count);
        Assert.Equal(22_363, d.Test.Count);
        Assert.True(d.AttributeCount > 0);
    }

    [SharedDataFact("instruments")]
    public void InstrumentsInteractionsLoad()
    {
        var d = DatasetLoaders.LoadInteractionJson(SharedData.Path("instruments/Instruments.inter.json"), name: "instruments");
        Assert.Equal(24_772, d.UserCount);
        Assert.True(d.ItemCount <= 9_922);
    }
}
