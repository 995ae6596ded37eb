namespace VectorRecall.Retrieval;

/// <summary>
/// A retriever cannot answer now because a part of it is down (a shard of a cluster with no live replica): the request
/// may succeed later. Servers answer it with 503, not as an internal error.
/// </summary>
public class RetrieverUnavailableException(string message, Exception? inner = null) : Exception(message, inner);
