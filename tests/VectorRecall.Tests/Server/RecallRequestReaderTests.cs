using System.Buffers;
using System.Text;
using VectorRecall.Server;

namespace VectorRecall.Tests.Server;

public class RecallRequestReaderTests
{
    private static readonly RequestLimits Limits = new(16, 100);

    private static ReadOnlySequence<byte> Body(string json) => new(Encoding.UTF8.GetBytes(json));

    [Fact]
    public void ArraysOfIdsAndNumbersReadInOrder()
    {
        var request = RecallRequestReader.ReadRecall(Body("""{"user_id": "u1", "top_k": 5, "features": [0.5, -2], "history": [7, "item-8", 9]}"""), Limits);
        Assert.Equal("u1", request.User.UserId);
        Assert.Equal([0.5f, -2f], request.User.Features!);
        Assert.Equal(["7", "item-8", "9"], request.User.History!);
    }

    [Theory]
    [InlineData("""{"user_id": 1, "top_k": 5, "history": [1, 2, true]}""", "history[2]")]
    [InlineData("""{"user_id": 1, "top_k": 5, "history": [1, ""]}""", "history[1]")]
    [InlineData("""{"user_id": 1, "top_k": 5, "features": [1, 2, 3, 1e40]}""", "features[3]")]
    [InlineData("""{"user_id": 1, "top_k": 5, "features": [null]}""", "features[0]")]
    public void AnArrayElementAtFaultIsNamedByItsPath(string json, string field)
    {
        var error = Assert.Throws<RequestError>(() => RecallRequestReader.ReadRecall(Body(json), Limits));
        Assert.Equal(field, error.Field);
    }

    [Fact]
    public void ATagAtFaultIsNamedInsideItsItem()
    {
        var error = Assert.Throws<RequestError>(() => RecallRequestReader.ReadItems(Body("""{"items": [{"id": 1, "vector": [1]}, {"id": 2, "category": 0, "tags": [3, -1]}]}"""), Limits));
        Assert.Equal("items[1].tags[1]", error.Field);
    }
}
