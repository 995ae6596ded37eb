using VectorRecall.Data;

namespace VectorRecall.Retrieval;

/// <summary>
/// A retriever whose results may hold items added after its bundle was written (a shard cluster's live items, at rows
/// past the bundle's). The <see cref="Serving.RecallService"/> over it hands it the bundle's item map, and the retriever
/// names each live row there (<see cref="IdMap.NameLiveRow"/>) before returning it, so answers map rows to ids as always.
/// </summary>
public interface ILiveItemRetriever : IRetriever
{
    /// <summary>The map in which to name the live rows this retriever returns.</summary>
    void NameLiveRowsIn(IdMap items);
}
