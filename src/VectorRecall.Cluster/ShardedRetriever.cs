using VectorRecall.Data;
using VectorRecall.Indexing;
using VectorRecall.Retrieval;

namespace VectorRecall.Cluster;

/// <summary>
/// A shard cluster as an <see cref="IRetriever"/>, so that a <see cref="Serving.RecallService"/> (and the HTTP server over
/// it) encodes users from the shard set's bundle and searches every shard: <c>RecallService.FromBundle(set.BundlePath,
/// new ShardedRetriever(search))</c>. Seen-item filters travel to the shards as item rows, so only
/// <see cref="ExcludedIds"/> filters are taken. A shard with no live replica throws <see cref="ShardUnavailableException"/>,
/// or, when the options carry a <see cref="PartialAnswer"/>, is left out and named there.
/// Live items (added while serving) come back at rows past the bundle's, named in the service's item map before they are returned.
/// </summary>
public sealed class ShardedRetriever(ShardedSearch search) : ILiveItemRetriever, VectorRecall.Server.IMetricsSource
{
    private IdMap? _items;

    public void NameLiveRowsIn(IdMap items) => _items = items;

    public string Name => "sharded";
    public int Dimension => search.Set.Dimension;
    public int ItemCount => search.Set.Items;

    public int Search(ReadOnlySpan<float> query, int k, Span<long> ids, Span<float> scores, SearchOptions? options = null)
    {
        // The caller is synchronous (IRetriever); the fan-out runs on the thread pool meanwhile.
        var answer = Ask(query.ToArray(), k, options).GetAwaiter().GetResult();
        answer.Rows.CopyTo(ids);
        answer.Scores.CopyTo(scores);
        return answer.Rows.Length;
    }

    public async ValueTask<int> SearchAsync(ReadOnlyMemory<float> query, int k, Memory<long> ids, Memory<float> scores, SearchOptions? options = null)
    {
        var answer = await Ask(query.ToArray(), k, options);
        answer.Rows.AsSpan().CopyTo(ids.Span);
        answer.Scores.AsSpan().CopyTo(scores.Span);
        return answer.Rows.Length;
    }

    public void SearchBatch(ReadOnlySpan<float> queries, int k, Span<long> ids, Span<float> scores, Span<int> counts, IReadOnlyList<SearchOptions?>? options = null)
    {
        // The caller is synchronous; the fan-outs run on the thread pool meanwhile.
        var answers = Task.WhenAll(AskAll(queries, k, options)).GetAwaiter().GetResult();
        CopyAnswers(answers, k, ids, scores, counts);
    }

    public async ValueTask SearchBatchAsync(ReadOnlyMemory<float> queries, int k, Memory<long> ids, Memory<float> scores, Memory<int> counts, IReadOnlyList<SearchOptions?>? options = null)
    {
        var answers = await Task.WhenAll(AskAll(queries.Span, k, options));
        CopyAnswers(answers, k, ids.Span, scores.Span, counts.Span);
    }

    /// <summary>One fan-out per row of <paramref name="queries"/>, all in flight at once.</summary>
    private Task<ClusterRecall>[] AskAll(ReadOnlySpan<float> queries, int k, IReadOnlyList<SearchOptions?>? options)
    {
        int dim = Dimension;
        if (dim == 0 || queries.Length % dim != 0) throw new ArgumentException($"{queries.Length} floats are no rows of {dim}");
        var calls = new Task<ClusterRecall>[queries.Length / dim];
        for (int q = 0; q < calls.Length; q++)
            calls[q] = Ask(queries.Slice(q * dim, dim).ToArray(), k, options?[q]);
        return calls;
    }

    /// <summary>Row q's answer at <c>[q·k ..]</c>, the slots past its count holding −1 and NaN.</summary>
    private static void CopyAnswers(ClusterRecall[] answers, int k, Span<long> ids, Span<float> scores, Span<int> counts)
    {
        for (int q = 0; q < answers.Length; q++)
        {
            var a = answers[q];
            a.Rows.CopyTo(ids.Slice(q * k, k));
            a.Scores.CopyTo(scores.Slice(q * k, k));
            ids.Slice(q * k + a.Rows.Length, k - a.Rows.Length).Fill(-1);
            scores.Slice(q * k + a.Rows.Length, k - a.Rows.Length).Fill(float.NaN);
            counts[q] = a.Rows.Length;
        }
    }

    /// <summary>One query to every shard, with its width and its filter as item rows; the live items in the answer named.</summary>
    private async Task<ClusterRecall> Ask(float[] query, int k, SearchOptions? options)
    {
        var answer = await search.SearchAsync(query, k, options?.Ef ?? 0, RowsOf(options?.Filter), allowPartial: options?.Partial is not null, patience: options?.Patience ?? 0);
        if (options?.Partial is { } partial) partial.Missing = answer.MissingShards;
        if (answer.LiveKeys is { } keys && _items is { } items)
            for (int i = 0; i < keys.Length; i++)
                if (keys[i] is { } key && answer.Rows[i] >= items.Count) items.NameLiveRow((int)answer.Rows[i], key);
        return answer;
    }

    private static int[]? RowsOf(IIdFilter? filter) => filter switch
    {
        null => null,
        ExcludedIds excluded => excluded.Ids.Select(id => (int)id).ToArray(),
        _ => throw new NotSupportedException($"a sharded search sends its filter to the shards as item rows: give an {nameof(ExcludedIds)}, not a {filter.GetType().Name}"),
    };

    /// <summary>The router's per-shard counters (requests, failovers, unavailability, waiting time), and the item-change batches this node's shard writers acknowledged before a replica applied them.</summary>
    public void AppendMetrics(System.Text.StringBuilder prometheus)
    {
        search.AppendMetrics(prometheus);
        prometheus.Append(System.Globalization.CultureInfo.InvariantCulture,
            $"# HELP vrecall_shard_apply_misses_total Batches of item changes this node's shard writers acknowledged before a replica applied them (it reads them from its log within a second).\n# TYPE vrecall_shard_apply_misses_total counter\nvrecall_shard_apply_misses_total {ShardWriterGrain.ApplyMisses}\n");
    }

    /// <summary>The cluster is shared; there is nothing of its own to free.</summary>
    public void Dispose() { }
}
