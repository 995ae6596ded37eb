using VectorRecall.Autograd;
using VectorRecall.Data;
using VectorRecall.Indexing;
using VectorRecall.Nn;
using VectorRecall.Numerics;

namespace VectorRecall.Towers;

/// <summary>Runs the towers in evaluation mode, without recording, to produce the vectors the index and the service use.</summary>
public static class TowerEncoder
{
    /// <summary>Every item of the catalog, in batches, as rows of an [items × dim] tensor (row i = item i).</summary>
    public static Tensor EncodeItems(ItemTower tower, ItemCatalog catalog, int batchSize = 4096, IProgress<int>? progress = null, CancellationToken cancel = default)
    {
        if (batchSize < 1) throw new ArgumentOutOfRangeException(nameof(batchSize), "batch size must be positive");
        Tensor? result = null;
        InEval(tower, () =>
        {
            var ids = new int[batchSize];
            for (int start = 0; start < catalog.Count; start += batchSize)
            {
                cancel.ThrowIfCancellationRequested();
                int n = Math.Min(batchSize, catalog.Count - start);
                for (int r = 0; r < n; r++) ids[r] = start + r;
                var v = tower.Forward(ItemBatch.Gather(catalog, ids.AsSpan(0, n))).Value;
                result ??= new Tensor(catalog.Count, v.Cols);
                v.Span.CopyTo(result.RowRange(start, n).Span);
                progress?.Report(start + n);
            }
        });
        return result ?? new Tensor(0, 0);
    }

    /// <summary>The user vectors of a batch ([batch × dim]).</summary>
    public static Tensor EncodeUsers(UserTower tower, UserBatch batch)
    {
        Tensor? result = null;
        InEval(tower, () => result = tower.Forward(batch).Value);
        return result!;
    }

    /// <summary>Runs <paramref name="body"/> with <paramref name="module"/> in evaluation mode and nothing recorded, then puts its mode back.</summary>
    internal static void InEval(Module module, Action body)
    {
        bool training = module.Training;
        module.Eval();
        try { Tape.NoGrad(() => { body(); return 0; }); }
        finally { module.Train(training); }
    }

    /// <summary>The ids 0 .. n−1: item ids when items are known by their row.</summary>
    public static long[] SequentialIds(int n)
    {
        var ids = new long[n];
        for (int i = 0; i < n; i++) ids[i] = i;
        return ids;
    }

    /// <summary>Adds item vectors (ids 0 .. n−1) to a new index made from <paramref name="description"/> (see <see cref="IndexFactory"/>), inner product metric.</summary>
    public static IVectorIndex BuildIndex(Tensor itemVectors, string description, IProgress<int>? progress = null, CancellationToken cancel = default)
    {
        var index = IndexFactory.Create(description, itemVectors.Cols, Metric.InnerProduct);
        try
        {
            var ids = SequentialIds(itemVectors.Rows);
            if (index is HnswIndex hnsw) hnsw.Add(ids, itemVectors.Span, progress, cancel);
            else { index.Add(ids, itemVectors.Span); progress?.Report(ids.Length); }
            return index;
        }
        catch
        {
            index.Dispose();
            throw;
        }
    }
}
