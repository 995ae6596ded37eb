using VectorRecall.Numerics;

namespace VectorRecall.Indexing;

// The reachability repair: every live item can be reached from the entry point.
public sealed unsafe partial class HnswIndex
{
    private const int RepairBatch = 1024;
    private const int MaxRepairRounds = 16;

    /// <summary>
    /// Makes every live item reachable at level 0 from the entry point. The neighbour heuristic can
    /// drop every link to an item that is nobody's near neighbour — with inner product on vectors of
    /// unequal norm, small-norm items are nobody's nearest (the best inner product with any vector
    /// belongs to a long one) and a fifth of a clustered set could be cut off. Each item the walk does
    /// not reach gets one in-link from a reached node near it (see <see cref="Donor"/>), appended or
    /// replacing a link whose target has other in-links, so the graph the heuristic chose is otherwise
    /// kept, and a search as wide as the index returns all of it (searches also start from the entry
    /// point at level 0). Runs after large batches, on <see cref="Save"/> and on <see cref="Load"/>;
    /// call it after many small adds to make their items reachable at once.
    /// </summary>
    public void RepairReachability()
    {
        lock (_repairLock)
        {
            Interlocked.Exchange(ref _unrepaired, 0);
            long entry = Volatile.Read(ref _entry);
            int slots = Volatile.Read(ref _reserved);
            if (entry < 0 || slots == 0) return;
            var inDegree = new int[slots];
            for (int s = 0; s < slots; s++)
            {
                int* list = Links(s, 0);
                int count = Math.Min(Volatile.Read(ref *list), _maxM0);
                for (int i = 0; i < count; i++) if ((uint)list[1 + i] < (uint)slots) inDegree[list[1 + i]]++;
            }
            var reached = new bool[slots];
            var queue = new int[slots];
            // A replaced link can cut off the item it pointed to, even one whose in-link count stays above zero (its other
            // in-links may come from items only it led to), so each round starts with a fresh walk and the repair ends only
            // when that walk reaches every live item. Under a concurrent CI run, stopping when no count fell to zero left
            // 11 of 4,500 items cut off.
            for (int round = 0; round < MaxRepairRounds; round++)
            {
                Array.Clear(reached);
                int tail = Reach(EntrySlot(entry), reached, queue, 0, slots);
                bool linkedAny = false;
                for (int s = 0; s < slots; s++)
                {
                    if (reached[s] || IsDeleted(s)) continue;
                    LinkTo(Donor(s, reached, inDegree, slots) ?? EntrySlot(entry), s, inDegree);
                    linkedAny = true;
                    tail = Reach(s, reached, queue, tail, slots);
                }
                if (!linkedAny) return;
            }
        }
    }

    /// <summary>Marks everything reachable at level 0 from <paramref name="start"/> (breadth first, the queue reused from <paramref name="tail"/>).</summary>
    private int Reach(int start, bool[] reached, int[] queue, int tail, int slots)
    {
        if (reached[start]) return tail;
        int head = tail;
        reached[start] = true;
        queue[tail++] = start;
        while (head < tail)
        {
            int* list = Links(queue[head++], 0);
            int count = Math.Min(Volatile.Read(ref *list), _maxM0);
            for (int i = 0; i < count; i++)
            {
                int next = list[1 + i];
                if ((uint)next < (uint)slots && !reached[next]) { reached[next] = true; queue[tail++] = next; }
            }
        }
        return tail;
    }

    /// <summary>
    /// Which reached node should link to an unreached <paramref name="node"/>: among its neighbours and
    /// their neighbours, nearest first by squared L2 (locality, whatever the metric: by inner product
    /// everyone's nearest are the same few long vectors, whose lists are full), the first with a free
    /// slot, else the first holding a link whose target has other in-links (replacing it cuts no one off).
    /// </summary>
    private int? Donor(int node, bool[] reached, int[] inDegree, int slots)
    {
        var pool = new List<int>();
        var seen = new HashSet<int> { node };
        int* own = Links(node, 0);
        int count = Math.Min(Volatile.Read(ref *own), _maxM0);
        for (int i = 0; i < count; i++)
        {
            int first = own[1 + i];
            if ((uint)first >= (uint)slots || !seen.Add(first)) continue;
            pool.Add(first);
            int* second = Links(first, 0);
            int secondCount = Math.Min(Volatile.Read(ref *second), _maxM0);
            for (int j = 0; j < secondCount; j++)
                if ((uint)second[1 + j] < (uint)slots && seen.Add(second[1 + j])) pool.Add(second[1 + j]);
        }
        pool.RemoveAll(c => !reached[c]);
        if (pool.Count == 0) return null;
        var near = new List<(float Distance, int Node)>(pool.Count);
        var buffers = new float[2 * Dimension];
        fixed (float* room = buffers)
        {
            float* v = Vector(node, room), other = room + Dimension;
            foreach (int c in pool) near.Add((Distances.SquaredL2(v, Vector(c, other), Dimension), c));
        }
        near.Sort();
        foreach (var (_, c) in near) if (Volatile.Read(ref *Links(c, 0)) < _maxM0) return c;
        foreach (var (_, c) in near)
        {
            int* list = Links(c, 0);
            int n = Math.Min(Volatile.Read(ref *list), _maxM0);
            for (int i = 0; i < n; i++) if (InDegree(inDegree, list[1 + i]) > 1) return c;
        }
        return near[0].Node;
    }

    /// <summary>Adds a level-0 link from <paramref name="from"/> to <paramref name="to"/>: appended, or replacing the link whose target has the most in-links.</summary>
    private void LinkTo(int from, int to, int[] inDegree)
    {
        lock (Stripe(from))
        {
            int* list = Links(from, 0);
            int count = *list;
            for (int i = 0; i < count; i++) if (list[1 + i] == to) return;
            inDegree[to]++;
            if (count < _maxM0)
            {
                list[1 + count] = to;
                Volatile.Write(ref *list, count + 1);
                return;
            }
            int replace = 0;
            for (int i = 1; i < count; i++) if (InDegree(inDegree, list[1 + i]) > InDegree(inDegree, list[1 + replace])) replace = i;
            int dropped = list[1 + replace];
            Volatile.Write(ref list[1 + replace], to);  // one int: a concurrent reader sees the old link or the new one
            if ((uint)dropped < (uint)inDegree.Length) inDegree[dropped]--;
        }
    }

    /// <summary>In-links counted when the repair began; a node added since (by a concurrent Add) counts as having none.</summary>
    private static int InDegree(int[] inDegree, int node) => (uint)node < (uint)inDegree.Length ? inDegree[node] : 0;
}
