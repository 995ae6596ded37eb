namespace VectorRecall.Server;

/// <summary>A request the server refuses: the HTTP status, the field at fault (a JSON path such as <c>users[2].features[5]</c>, or <c>body</c>, <c>path</c>, <c>method</c>), and why.</summary>
public sealed class RequestError(int status, string field, string message) : Exception(message)
{
    public int Status { get; } = status;
    public string Field { get; } = field;
}
