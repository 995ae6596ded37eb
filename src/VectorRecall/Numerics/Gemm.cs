using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace VectorRecall.Numerics;

/// <summary>
/// Single-precision matrix multiply, C (+)= op(A)·op(B), for the three forms training needs:
/// A·B (forward), A·Bᵀ (input gradient, logits against item vectors) and Aᵀ·B (weight gradient).
/// The layout follows Goto's blocking: a KC-deep slice of op(B) is packed into NR-wide panels that
/// stay in L1 while a register-resident MR×NR micro-kernel sweeps an MC×KC block of op(A) held in
/// L2. An untransposed A is read in place (packing it is a transpose that would cost as much as
/// the arithmetic at the few hundred columns a recommender's layers have); a transposed A is
/// packed by plain copies, unless C is so narrow that each tile is used once or twice. With a deep k, the next KC step's operands are prefetched while this
/// one computes. The output is split into one rectangle per thread; each thread packs what it
/// reads, so threads never wait on each other (except a large transposed B, packed once by all threads
/// before the rows are dealt out), and every element is summed in the same order whatever the thread count.
/// </summary>
internal static unsafe class Gemm
{
    private const int KC = 256;
    private const int MC = 96;
    private const int NC = 1024;

    /// <summary>The micro-kernel this machine runs, e.g. "Vector512 8x32", for reports.</summary>
    public static string KernelName => Kernel switch
    {
        KernelKind.Avx512 => $"Vector512 {Mr512}x{Nr512}",
        KernelKind.Avx2 => $"Vector256 {Mr256}x{Nr256}",
        _ => "scalar",
    };

    internal enum KernelKind { Scalar, Avx2, Avx512 }

    private const int Mr512 = 8, Nr512 = 32, Mr256 = 6, Nr256 = 16, MrScalar = 4, NrScalar = 4;

    internal static readonly KernelKind Kernel =
        Vector512.IsHardwareAccelerated && Avx512F.IsSupported ? KernelKind.Avx512
        : Vector256.IsHardwareAccelerated && Fma.IsSupported ? KernelKind.Avx2
        : KernelKind.Scalar;

    private static int MrOf(KernelKind kind) => kind switch { KernelKind.Avx512 => Mr512, KernelKind.Avx2 => Mr256, _ => MrScalar };
    private static int NrOf(KernelKind kind) => kind switch { KernelKind.Avx512 => Nr512, KernelKind.Avx2 => Nr256, _ => NrScalar };

    /// <summary>
    /// C[m×n] = op(A)·op(B), or C += op(A)·op(B) when <paramref name="accumulate"/> is set.
    /// op(A) is m×k: A is stored m×k (row stride lda) or, when <paramref name="transA"/>, k×m.
    /// op(B) is k×n: B is stored k×n (row stride ldb) or, when <paramref name="transB"/>, n×k.
    /// <paramref name="threads"/> ≤ 0 uses every core. A non-empty <paramref name="bias"/> (n values) is added to every
    /// row of the product as each tile is stored (a Linear layer's bias, without a pass of its own over C). A non-empty
    /// <paramref name="aRowSums"/> (m values) has each row of op(A) summed into it: with op(A) = dYᵀ that is a Linear
    /// layer's bias gradient, taken while A is packed for its weight gradient instead of in a pass of its own over dY.
    /// A non-empty <paramref name="columnMoments"/> (2n values) gets, for each column j of the finished C, Σ(C[i, j] − s[j])
    /// added to its first n values and Σ(C[i, j] − s[j])² to its last n, s being <paramref name="momentShift"/>: the batch
    /// statistics a following BatchNorm needs, taken from each tile while it is in L1 rather than in a pass over C.
    /// </summary>
    public static void Multiply(
        ReadOnlySpan<float> a, int lda, bool transA,
        ReadOnlySpan<float> b, int ldb, bool transB,
        Span<float> c, int ldc,
        int m, int n, int k, bool accumulate = false, int threads = 0, ReadOnlySpan<float> bias = default, Span<float> aRowSums = default,
        ReadOnlySpan<float> momentShift = default, Span<float> columnMoments = default)
        => Multiply(a, lda, transA, b, ldb, transB, c, ldc, m, n, k, accumulate, threads, Kernel, bias, aRowSums, momentShift, columnMoments);

    /// <summary>As the public overload, with the micro-kernel chosen by the caller (tests run every kernel the CPU can).</summary>
    internal static void Multiply(
        ReadOnlySpan<float> a, int lda, bool transA,
        ReadOnlySpan<float> b, int ldb, bool transB,
        Span<float> c, int ldc,
        int m, int n, int k, bool accumulate, int threads, KernelKind kernel, ReadOnlySpan<float> bias = default, Span<float> aRowSums = default,
        ReadOnlySpan<float> momentShift = default, Span<float> columnMoments = default)
    {
        CheckArguments(a.Length, lda, transA, b.Length, ldb, transB, c.Length, ldc, m, n, k);
        if (!bias.IsEmpty && bias.Length != n) throw new ArgumentException($"bias has {bias.Length} values, expected {n} (one per column of C)");
        if (!aRowSums.IsEmpty && aRowSums.Length != m) throw new ArgumentException($"row sums have {aRowSums.Length} values, expected {m} (one per row of op(A))");
        if (!columnMoments.IsEmpty && (columnMoments.Length != 2 * n || momentShift.Length != n))
            throw new ArgumentException($"column moments need {2 * n} values and a shift of {n}, got {columnMoments.Length} and {momentShift.Length}");
        if (m == 0 || n == 0) return;
        // Packing reads each element of a transposed A once; an untransposed A is mostly read in place, so its rows are summed here.
        if (!aRowSums.IsEmpty && !transA)
        {
            for (int i = 0; i < m; i++) aRowSums[i] += TensorPrimitives.Sum(a.Slice(i * lda, k));
            aRowSums = default;
        }
        if (k == 0)
        {
            for (int i = 0; i < m; i++)
            {
                var row = c.Slice(i * ldc, n);
                if (!accumulate) row.Clear();
                if (!bias.IsEmpty) TensorPrimitives.Add(row, bias, row);
            }
        }

        fixed (float* pa = a) fixed (float* pb = b) fixed (float* pc = c) fixed (float* pbias = bias) fixed (float* psums = aRowSums)
        fixed (float* pshift = momentShift) fixed (float* pmoments = columnMoments)
        {
            int mr = MrOf(kernel), nr = NrOf(kernel);
            int workers = PlanThreads(m, n, k, threads, mr, nr);
            if (k > 0 && m <= DotRows && !transA && transB) MultiplyByDots(pa, lda, pb, ldb, pc, ldc, m, n, k, accumulate, pbias);
            else if (k >= SplitKMinDepth && (long)m * n <= SplitKMaxOutput)
                MultiplySplitK(pa, lda, transA, pb, ldb, transB, pc, ldc, m, n, k, accumulate, workers, kernel, pbias, psums);
            else if (k > 0)
            {
                // The tiled path takes the moments tile by tile; the others, and k = 0, in a pass over C after.
                var job = new Job(pa, lda, transA, pb, ldb, transB, pc, ldc, k, accumulate, kernel, pbias, psums, pshift);
                if (workers == 1) job.Run(0, m, 0, n, pmoments, pmoments == null ? null : pmoments + n);
                else RunSplit(job, m, n, workers, mr, nr, pmoments);
                return;
            }
            if (pmoments != null) AddTileMoments(pc, ldc, m, n, pshift, pmoments, pmoments + n);
        }
    }

    /// <summary>
    /// <paramref name="job"/> on <paramref name="workers"/> threads. A method of its own so that the closure
    /// Parallel.For needs is allocated only here, not on every call (small products allocate nothing).
    /// </summary>
    private static void RunSplit(Job job, int m, int n, int workers, int mr, int nr, float* moments)
    {
        // Each thread packs what it reads: splitting the rows packs all of B in every thread,
        // splitting the columns reads (or, transposed, packs) all of A in every thread. Split
        // the larger side, so that the side every thread repeats is the smaller one.
        bool splitRows = n <= m || n < workers * nr;
        // Four chunks per thread when the rows are split and the work is large: on a shared machine
        // one core is often slower, and Parallel.For hands the spare chunks to whichever thread is
        // free. Smaller work gets one chunk per thread, as uneven chunks would cost more than they
        // balance. A column split always does: each chunk packs all of op(A) again, and at the
        // RQ-VAE's weight gradient (op(A) 1024 × 1024, transposed) eight chunks packed 32 MB for
        // 4.3 GFLOP, 0.96× torch.mm against 1.03× with two.
        int total = splitRows ? m : n, unit = splitRows ? mr : nr;
        int minChunk = splitRows ? 4 * MC : 4 * nr;
        int chunks = splitRows && total >= 4 * workers * minChunk ? 4 * workers : workers;
        int chunk = (total + chunks - 1) / chunks;
        chunk = (chunk + unit - 1) / unit * unit;
        int parts = (total + chunk - 1) / chunk;
        // Column moments: each part sums into its own 2n values, added up in part order, so the totals do not depend on
        // which thread ran which part.
        float[]? partials = moments != null ? System.Buffers.ArrayPool<float>.Shared.Rent(parts * 2 * n) : null;
        // Split by rows, every part reads all of op(B). A large transposed B (a Linear layer's forward) is packed once
        // here, by all threads, rather than once per part: its packing transposes, which at the RQ-VAE's 1024 × 2048
        // took 6 % of two threads' time and left them at 0.97–0.99× torch.mm (now 1.01–1.02×). Where packing is a copy
        // (untransposed, 0.95× at 1024 × 2048 × 1024), or op(B) is small (the two-tower's: the second fork cost 5 %),
        // each part packing its own, while it is fresh in that core's cache, measured faster.
        long wholeBFloats = job.PackedBFloats(n, nr);
        bool packOnce = splitRows && job.TransB && wholeBFloats >= MinWholeBFloats && wholeBFloats <= MaxWholeBFloats;
        float* wholeB = packOnce ? PackBuffers.ForThread().WholeB(wholeBFloats) : null;
        try
        {
            partials?.AsSpan(0, parts * 2 * n).Clear();
            var options = new ParallelOptions { MaxDegreeOfParallelism = workers };
            if (wholeB != null) Parallel.For(0, workers, options, part => job.PackWholeB(n, nr, wholeB, part, workers));
            Parallel.For(0, parts, options, part =>
            {
                int lo = part * chunk, hi = Math.Min(total, lo + chunk);
                fixed (float* own = partials)
                {
                    float* sums = own == null ? null : own + (long)part * 2 * n;
                    if (splitRows) job.Run(lo, hi, 0, n, sums, sums == null ? null : sums + n, wholeB);
                    else job.Run(0, m, lo, hi, sums, sums == null ? null : sums + n);
                }
            });
            for (int part = 0; partials != null && part < parts; part++)
                for (int j = 0; j < 2 * n; j++) moments[j] += partials[part * 2 * n + j];
        }
        finally { if (partials != null) System.Buffers.ArrayPool<float>.Shared.Return(partials); }
    }

    /// <summary>
    /// From this many columns of C per block, an untransposed A is packed too: its MC×KC block then
    /// serves enough micro-kernel calls that the transpose is paid back by contiguous, conflict-free
    /// reads (rows of a power-of-two stride otherwise share L1 sets).
    /// </summary>
    private const int PackAColumns = 512;

    /// <summary>
    /// Up to this row stride (floats: two rows per 4 KB page), a transposed A is packed two panels at a time down its rows
    /// (the two-tower's weight gradients, strides 192 and 256: 1–5 % faster); longer rows are dealt out whole.
    /// </summary>
    private const int PairedPackMaxStride = 512;

    /// <summary>Up to this many rows of A against a transposed B (a layer's forward for one or a few users) run as dot products.</summary>
    private const int DotRows = 4;

    /// <summary>From 1 MB (a core's L2) to 16 MB (the RQ-VAE's widest op(B) takes 8), a transposed op(B) is packed once for a row split.</summary>
    private const long MinWholeBFloats = 1L << 18, MaxWholeBFloats = 1L << 22;

    /// <summary>
    /// C[i, j] (+)= A[i]·B[j] for a few rows of A: B's rows are already contiguous, so packing them
    /// for the micro-kernel would cost more than the arithmetic.
    /// </summary>
    private static void MultiplyByDots(float* a, int lda, float* b, int ldb, float* c, int ldc, int m, int n, int k, bool accumulate, float* bias)
    {
        for (int i = 0; i < m; i++)
        {
            float* ai = a + (long)i * lda, ci = c + (long)i * ldc;
            for (int j = 0; j < n; j++)
            {
                float d = Distances.Dot(ai, b + (long)j * ldb, k);
                if (bias != null) d += bias[j];
                ci[j] = accumulate ? ci[j] + d : d;
            }
        }
    }

    private const int SplitKMinDepth = 1024, SplitKMaxOutput = 512 * 512;

    /// <summary>
    /// A small output over a deep k (a weight gradient: Xᵀ·dY over a batch) splits k in two: each
    /// half is its own GEMM, one into C and one into a scratch matrix, added at the end. Splitting
    /// the output instead would make every thread pack the whole of one operand. The split does
    /// not depend on the thread count, so neither do the sums (nor op(A)'s row sums, each half's kept apart until the end).
    /// </summary>
    private static void MultiplySplitK(float* a, int lda, bool transA, float* b, int ldb, bool transB, float* c, int ldc,
        int m, int n, int k, bool accumulate, int workers, KernelKind kernel, float* bias, float* aRowSums)
    {
        int k0 = (k / 2 + KC - 1) / KC * KC;
        // op(A)'s columns and op(B)'s rows from k0 on.
        float* a1 = transA ? a + (long)k0 * lda : a + k0;
        float* b1 = transB ? b + k0 : b + (long)k0 * ldb;
        float[] rented = System.Buffers.ArrayPool<float>.Shared.Rent(m * n + (aRowSums != null ? m : 0));
        try
        {
            fixed (float* scratch = rented)
            {
                float* secondSums = aRowSums != null ? scratch + (long)m * n : null;
                if (secondSums != null) new Span<float>(secondSums, m).Clear();
                var first = new Job(a, lda, transA, b, ldb, transB, c, ldc, k0, accumulate, kernel, bias, aRowSums);
                var second = new Job(a1, lda, transA, b1, ldb, transB, scratch, n, k - k0, false, kernel, null, secondSums);
                if (workers > 1) Parallel.Invoke(() => first.Run(0, m, 0, n), () => second.Run(0, m, 0, n));
                else { first.Run(0, m, 0, n); second.Run(0, m, 0, n); }
                for (int i = 0; i < m; i++)
                {
                    var row = new Span<float>(c + (long)i * ldc, n);
                    TensorPrimitives.Add(row, new ReadOnlySpan<float>(scratch + (long)i * n, n), row);
                }
                if (secondSums != null) TensorPrimitives.Add(new Span<float>(aRowSums, m), new ReadOnlySpan<float>(secondSums, m), new Span<float>(aRowSums, m));
            }
        }
        finally { System.Buffers.ArrayPool<float>.Shared.Return(rented); }
    }

    /// <summary>Convenience over tensors: C = op(A)·op(B) (or +=) with shapes checked; the bias and op(A)'s row sums as in the span overload.</summary>
    public static void Multiply(Tensor a, bool transA, Tensor b, bool transB, Tensor c, bool accumulate = false, int threads = 0, Tensor? bias = null, Tensor? aRowSums = null)
    {
        int m = transA ? a.Cols : a.Rows, k = transA ? a.Rows : a.Cols;
        int kb = transB ? b.Cols : b.Rows, n = transB ? b.Rows : b.Cols;
        if (k != kb) throw new ArgumentException($"inner dimensions differ: op(A) is {m}x{k}, op(B) is {kb}x{n}");
        if (c.Rows != m || c.Cols != n) throw new ArgumentException($"C is {c.Rows}x{c.Cols}, expected {m}x{n}");
        Multiply(a.Span, a.Cols, transA, b.Span, b.Cols, transB, c.Span, c.Cols, m, n, k, accumulate, threads, bias is null ? default : bias.Span,
            aRowSums is null ? default : aRowSums.Span);
    }

    /// <summary>The plain triple loop, in double precision: the reference the fast path is tested against.</summary>
    public static void MultiplyReference(
        ReadOnlySpan<float> a, int lda, bool transA,
        ReadOnlySpan<float> b, int ldb, bool transB,
        Span<float> c, int ldc, int m, int n, int k, bool accumulate = false)
    {
        CheckArguments(a.Length, lda, transA, b.Length, ldb, transB, c.Length, ldc, m, n, k);
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double sum = accumulate ? c[i * ldc + j] : 0;
                for (int p = 0; p < k; p++)
                    sum += (double)(transA ? a[p * lda + i] : a[i * lda + p]) * (transB ? b[j * ldb + p] : b[p * ldb + j]);
                c[i * ldc + j] = (float)sum;
            }
    }

    private static int PlanThreads(int m, int n, int k, int threads, int mr, int nr)
    {
        int cores = Threads.Resolve(threads);
        // Below ~2 MFLOP the fork/join costs more than it saves.
        double flops = 2.0 * m * n * k;
        if (flops < 2e6) return 1;
        return Math.Max(1, Math.Min(cores, Math.Max(m / mr, n / nr)));
    }

    private static void CheckArguments(int aLen, int lda, bool transA, int bLen, int ldb, bool transB, int cLen, int ldc, int m, int n, int k)
    {
        if (m < 0 || n < 0 || k < 0) throw new ArgumentException($"negative GEMM size m={m} n={n} k={k}");
        int aRows = transA ? k : m, aCols = transA ? m : k;
        int bRows = transB ? n : k, bCols = transB ? k : n;
        Check("A", aLen, lda, aRows, aCols);
        Check("B", bLen, ldb, bRows, bCols);
        Check("C", cLen, ldc, m, n);

        static void Check(string name, int length, int ld, int rows, int cols)
        {
            if (rows == 0 || cols == 0) return;
            if (ld < cols) throw new ArgumentException($"{name}: row stride {ld} is less than its {cols} columns");
            if ((long)(rows - 1) * ld + cols > length)
                throw new ArgumentException($"{name}: {rows}x{cols} with row stride {ld} needs {(long)(rows - 1) * ld + cols} elements, span has {length}");
        }
    }

    /// <summary>
    /// One GEMM call's operands; <see cref="Run"/> computes one rectangle of C (adding <paramref name="bias"/>, when not null, with the first KC step,
    /// and when <paramref name="aRowSums"/> is not null, op(A)'s rows summed into it as a transposed A is packed).
    /// </summary>
    private readonly struct Job(float* a, int lda, bool transA, float* b, int ldb, bool transB, float* c, int ldc, int k, bool accumulate, KernelKind kernel, float* bias,
        float* aRowSums = null, float* momentShift = null)
    {
        /// <summary>Whether B is stored n×k, so that packing op(B) transposes it.</summary>
        public bool TransB => transB;

        /// <summary>
        /// How many floats all of op(B) takes packed (<see cref="PackWholeB"/>): every NC-wide block's KC slices in turn,
        /// each slice's panels zero-padded to NR columns.
        /// </summary>
        public long PackedBFloats(int n, int nr) => (long)k * ((n + nr - 1) / nr * nr);

        /// <summary>
        /// Part <paramref name="part"/> of <paramref name="parts"/> of packing all of op(B) into <paramref name="dst"/>: an
        /// equal share of each slice's panels, so the parts take the same time whatever the shape. The slice of block jc
        /// and k step pc starts where <see cref="WholeBSlice"/> says, where <see cref="Run"/> looks for it.
        /// </summary>
        public void PackWholeB(int n, int nr, float* dst, int part, int parts)
        {
            for (int jc = 0; jc < n; jc += NC)
            {
                int nc = Math.Min(NC, n - jc), panels = (nc + nr - 1) / nr;
                int first = panels * part / parts, last = panels * (part + 1) / parts;
                if (first == last) continue;
                for (int pc = 0; pc < k; pc += KC)
                {
                    int kc = Math.Min(KC, k - pc);
                    float* slice = WholeBSlice(dst, jc, pc, nc, nr);
                    PackB(pc, kc, jc + first * nr, Math.Min(nc, last * nr) - first * nr, nr, slice + (long)first * nr * kc);
                }
            }
        }

        /// <summary>Where, in all of op(B) packed, the KC slice of the NC block at column <paramref name="jc"/> and depth <paramref name="pc"/> starts: blocks one after another, each's slices padded to NR columns.</summary>
        private float* WholeBSlice(float* whole, int jc, int pc, int nc, int nr) => whole + (long)jc * k + (long)pc * ((nc + nr - 1) / nr * nr);

        /// <summary>
        /// C[m0..m1, n0..n1]; when <paramref name="momentSums"/> is not null, each finished tile's column moments about the
        /// shift are added to it and <paramref name="momentSquares"/> (indexed by C's column). A non-null <paramref name="wholeB"/> holds all of op(B)
        /// packed already (<see cref="PackWholeB"/>; only where the rectangle spans every column).
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Run(int m0, int m1, int n0, int n1, float* momentSums = null, float* momentSquares = null, float* wholeB = null)
        {
            int mr = MrOf(kernel), nr = NrOf(kernel);
            var scratch = PackBuffers.ForThread();
            float* packedA = scratch.A, packedB = scratch.B;
            float* edge = stackalloc float[Mr512 * Nr512];
            // Stored untransposed, op(A)'s full MR-row tiles are read where they lie (row stride lda):
            // packing them would be a transpose costing as much as the arithmetic when n is a few
            // hundred. Only ragged edge rows are packed. Stored transposed, each k step of a tile
            // is a short contiguous run, so the block is packed (a plain copy): read in place, its
            // tiles would touch twice the cache lines they use and crowd B's panel out of L1. Unless
            // C is at most two panels wide (an item table's gradient, dLᵀ·H at width 64): then each
            // tile serves one or two micro-kernel calls, and packing it cost half as much as they did
            // (dLᵀ·H for 12,101 items: 35 % of the time in packing; in place, 1.15× on one thread and
            // 1.10× on two, with the next KC step's A no longer prefetched, which measured best).
            bool transposedInPlace = transA && aRowSums == null && n1 - n0 <= 2 * nr;

            for (int jc = n0; jc < n1; jc += NC)
            {
                int nc = Math.Min(NC, n1 - jc);
                for (int pc = 0; pc < k; pc += KC)
                {
                    int kc = Math.Min(KC, k - pc);
                    bool add = accumulate || pc > 0;
                    // Packed already (rows split over threads, n0 = 0 and n1 = n), or packed now into this thread's buffer.
                    float* slice = wholeB != null ? WholeBSlice(wholeB, jc, pc, nc, nr) : packedB;
                    if (wholeB == null) PackB(pc, kc, jc, nc, nr, packedB);
                    // With a deep k, packing is a pause in the arithmetic each KC step; spread
                    // prefetches of the next step's A and B over this step's micro-kernel calls.
                    int nextKc = Math.Min(KC, k - pc - kc);
                    var nextB = nextKc <= 0 || wholeB != null ? default
                        : transB ? new PrefetchStream(b + (long)jc * ldb + pc + kc, nc, nextKc, ldb)
                        : new PrefetchStream(b + (long)(pc + kc) * ldb + jc, nextKc, nc, ldb);
                    var nextA = nextKc <= 0 || transposedInPlace ? default
                        : transA ? new PrefetchStream(a + (long)(pc + kc) * lda + m0, nextKc, m1 - m0, lda)
                        : new PrefetchStream(a + (long)m0 * lda + pc + kc, m1 - m0, nextKc, lda);
                    long calls = (long)((m1 - m0 + mr - 1) / mr) * ((nc + nr - 1) / nr);
                    int quota = (int)((nextA.Lines + nextB.Lines + calls - 1) / Math.Max(1, calls));
                    for (int ic = m0; ic < m1; ic += MC)
                    {
                        int mc = Math.Min(MC, m1 - ic);
                        int mcFull = transposedInPlace || !transA && nc < PackAColumns ? mc / mr * mr : 0;
                        // A rectangle that starts at C's first column packs its rows of op(A) first and sums them; the others repeat that packing.
                        float* sums = aRowSums != null && n0 == 0 && jc == n0 ? aRowSums + ic : null;
                        if (mcFull < mc) PackA(ic + mcFull, mc - mcFull, pc, kc, mr, packedA + mcFull * kc, sums);
                        for (int jr = 0; jr < nc; jr += nr)
                        {
                            int nrValid = Math.Min(nr, nc - jr);
                            float* bPanel = slice + jr * kc;
                            for (int ir = 0; ir < mc; ir += mr)
                            {
                                int mrValid = Math.Min(mr, mc - ir);
                                float* cTile = c + (long)(ic + ir) * ldc + jc + jr;
                                float* aTile;
                                long tileRs, tileCs;
                                if (ir >= mcFull) { aTile = packedA + ir * kc; tileRs = 1; tileCs = mr; }
                                else if (transA) { aTile = a + (long)pc * lda + ic + ir; tileRs = 1; tileCs = lda; }
                                else
                                {
                                    aTile = a + (long)(ic + ir) * lda + pc;
                                    tileRs = lda; tileCs = 1;
                                    // The first column panel meets each A tile cold: fetch the next one meanwhile.
                                    if (jr == 0 && ir + 2 * mr <= mcFull) PrefetchRows(aTile + (long)mr * lda, mr, kc, lda);
                                }
                                if (ir + 2 * mr <= mc) PrefetchRows(cTile + (long)mr * ldc, mr, nrValid, ldc);
                                if (quota > 0) { nextB.Advance(quota); nextA.Advance(quota); }
                                if (mrValid == mr && nrValid == nr)
                                    MicroKernel(kernel, kc, aTile, tileRs, tileCs, bPanel, cTile, ldc, add);
                                else
                                {
                                    MicroKernel(kernel, kc, aTile, tileRs, tileCs, bPanel, edge, nr, false);
                                    for (int i = 0; i < mrValid; i++)
                                        for (int j = 0; j < nrValid; j++)
                                            cTile[(long)i * ldc + j] = add ? cTile[(long)i * ldc + j] + edge[i * nr + j] : edge[i * nr + j];
                                }
                                // The tile was just stored and is still in L1: adding the bias here saves a pass over C.
                                if (bias != null && pc == 0) AddBias(cTile, ldc, mrValid, nrValid, bias + jc + jr);
                                if (momentSums != null && pc + kc == k)
                                    AddTileMoments(cTile, ldc, mrValid, nrValid, momentShift + jc + jr, momentSums + jc + jr, momentSquares + jc + jr);
                            }
                        }
                    }
                }
            }
        }

        /// <summary>Asks for the cache lines of <paramref name="rows"/> rows of <paramref name="cols"/> floats, <paramref name="stride"/> apart.</summary>
        private static void PrefetchRows(float* p, int rows, int cols, long stride)
        {
            if (!Sse.IsSupported) return;
            for (int i = 0; i < rows; i++, p += stride)
                for (int j = 0; j < cols; j += 16) Sse.Prefetch0(p + j);
        }

        /// <summary>
        /// Rows [ic, ic + rows) of op(A)[.., pc..] into MR-row panels of kc columns (panel t at
        /// dst + t·MR·kc, element (i, p) at p·MR + i), the last panel zero-padded. When <paramref name="sums"/> is not
        /// null, each row's kc values are added to sums[row] (only for a transposed A, every row of which is packed).
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void PackA(int ic, int rows, int pc, int kc, int mr, float* dst, float* sums)
        {
            if (transA)
            {
                // Stored transposed, op(A)'s block is kc rows of A, `rows` long. Two 8-row panels' pieces of a row are one
                // cache line, so short rows are packed a pair of panels at a time: one line of every row read, two panels
                // written front to back. Dealing whole rows out to all MC/MR panels at once writes that many streams
                // 8 KB apart, which share an L1 set and evict each other's half-written lines (PackA took twice PackB's
                // time for half the data); one panel at a time reads each line back from L2 for every panel it
                // straddles. Long rows (the RQ-VAE's 4–8 KB) put every k step on a page of its own, where walking down
                // the rows measured 1–2 % slower, so they are still dealt out whole. Row sums ride in registers, added
                // in the same order as element by element.
                int paired = 0;
                if (mr == 8 && lda <= PairedPackMaxStride)
                    for (; paired + 16 <= rows; paired += 16)
                    {
                        float* src = a + (long)pc * lda + ic + paired, d0 = dst + paired * kc, d1 = d0 + 8 * kc;
                        Vector256<float> s0 = default, s1 = default;
                        if (sums != null) { s0 = Vector256.Load(sums + paired); s1 = Vector256.Load(sums + paired + 8); }
                        for (int p = 0; p < kc; p++, src += lda)
                        {
                            var v0 = Vector256.Load(src);
                            var v1 = Vector256.Load(src + 8);
                            Vector256.Store(v0, d0 + p * 8);
                            Vector256.Store(v1, d1 + p * 8);
                            if (sums != null) { s0 += v0; s1 += v1; }
                        }
                        if (sums != null) { Vector256.Store(s0, sums + paired); Vector256.Store(s1, sums + paired + 8); }
                    }
                if (paired == rows) return;
                // What pairs do not cover: each row read once, front to back, its MR-long pieces dealt out to the panels.
                int full = rows / mr * mr;
                for (int p = 0; p < kc; p++)
                {
                    float* src = a + (long)(pc + p) * lda + ic;
                    if (sums != null) RowKernels.Add(new ReadOnlySpan<float>(src + paired, rows - paired), new Span<float>(sums + paired, rows - paired));
                    float* d = dst + p * mr + paired * kc;
                    int ir = paired;
                    if (mr == 8)
                        for (; ir < full; ir += 8, d += 8 * kc) Vector256.Store(Vector256.Load(src + ir), d);
                    else if (mr == 6)
                        for (; ir < full; ir += 6, d += 6 * kc)
                        {
                            Vector128.Store(Vector128.Load(src + ir), d);
                            Vector64.Store(Vector64.Load(src + ir + 4), d + 4);
                        }
                    for (; ir < rows; ir += mr, d += mr * kc)
                    {
                        int valid = Math.Min(mr, rows - ir), i = 0;
                        for (; i < valid; i++) d[i] = src[ir + i];
                        for (; i < mr; i++) d[i] = 0;
                    }
                }
                return;
            }
            // Stored untransposed, a panel's MR rows are read 8 columns at a time through 8×8 register transposes
            // (the 6-row AVX2 panel through a scratch block whose last two rows are ignored); the rest element by element.
            float* block = stackalloc float[64];
            for (int ir = 0; ir < rows; ir += mr, dst += mr * kc)
            {
                int valid = Math.Min(mr, rows - ir);
                int p0 = 0;
                if (Avx.IsSupported && valid == mr && mr is 6 or 8)
                    for (; p0 + 8 <= kc; p0 += 8)
                    {
                        float* src = a + (long)(ic + ir) * lda + pc + p0;
                        if (mr == 8) { Transpose8x8(src, lda, dst + p0 * 8, 8, 8); continue; }
                        Transpose8x8(src, lda, block, 8, 6);
                        for (int q = 0; q < 8; q++)
                        {
                            float* d = dst + (p0 + q) * 6;
                            Vector128.Store(Vector128.Load(block + q * 8), d);
                            Vector64.Store(Vector64.Load(block + q * 8 + 4), d + 4);
                        }
                    }
                for (int p = p0; p < kc; p++)
                {
                    float* d = dst + p * mr;
                    int i = 0;
                    for (; i < valid; i++) d[i] = a[(long)(ic + ir + i) * lda + pc + p];
                    for (; i < mr; i++) d[i] = 0;
                }
            }
        }

        /// <summary>op(B)[pc.., jc..] into NR-column panels: panel j holds kc rows of NR values.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void PackB(int pc, int kc, int jc, int nc, int nr, float* dst)
        {
            if (!transB)
            {
                // Read each row of B once, front to back (what the hardware prefetcher streams
                // best), and deal its NR-wide pieces out to the panels.
                for (int p = 0; p < kc; p++)
                {
                    float* src = b + (long)(pc + p) * ldb + jc;
                    for (int jr = 0; jr < nc; jr += nr)
                    {
                        float* d = dst + jr * kc + p * nr;
                        int cols = Math.Min(nr, nc - jr);
                        if (cols == nr) CopyPanelRow(src + jr, d, nr);
                        else
                        {
                            int j = 0;
                            for (; j < cols; j++) d[j] = src[jr + j];
                            for (; j < nr; j++) d[j] = 0;
                        }
                    }
                }
                return;
            }
            // B is n×k: a panel's columns are rows of B. Full groups of 8 rows go through 8×8 register transposes
            // (element by element, packing cost 5–10 % of a layer's forward when k is deep); the rest are
            // walked row by row and scattered into the panel.
            for (int jr = 0; jr < nc; jr += nr)
            {
                int cols = Math.Min(nr, nc - jr);
                float* panel = dst + jr * kc;
                int p0 = 0;
                if (Avx.IsSupported && cols == nr && nr % 8 == 0)
                    for (p0 = 0; p0 + 8 <= kc; p0 += 8)
                        for (int g = 0; g < nr; g += 8)
                            Transpose8x8(b + (long)(jc + jr + g) * ldb + pc + p0, ldb, panel + p0 * nr + g, nr);
                for (int j = 0; j < cols; j++)
                {
                    float* src = b + (long)(jc + jr + j) * ldb + pc;
                    for (int p = p0; p < kc; p++) panel[p * nr + j] = src[p];
                }
                for (int j = cols; j < nr; j++)
                    for (int p = 0; p < kc; p++) panel[p * nr + j] = 0;
            }
        }

        /// <summary>
        /// dst[p·ldd + i] = src[i·lds + p] for an 8×8 block: unpack, shuffle, then swap 128-bit halves. Only the first
        /// <paramref name="rows"/> rows of src are read; the columns the others would fill hold copies of row 0.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void Transpose8x8(float* src, long lds, float* dst, int ldd, int rows = 8)
        {
            var r0 = Avx.LoadVector256(src); var r1 = Avx.LoadVector256(src + lds);
            var r2 = Avx.LoadVector256(src + 2 * lds); var r3 = Avx.LoadVector256(src + 3 * lds);
            var r4 = Avx.LoadVector256(src + 4 * lds); var r5 = Avx.LoadVector256(src + 5 * lds);
            var r6 = rows > 6 ? Avx.LoadVector256(src + 6 * lds) : r0; var r7 = rows > 7 ? Avx.LoadVector256(src + 7 * lds) : r0;
            var t0 = Avx.UnpackLow(r0, r1); var t1 = Avx.UnpackHigh(r0, r1);
            var t2 = Avx.UnpackLow(r2, r3); var t3 = Avx.UnpackHigh(r2, r3);
            var t4 = Avx.UnpackLow(r4, r5); var t5 = Avx.UnpackHigh(r4, r5);
            var t6 = Avx.UnpackLow(r6, r7); var t7 = Avx.UnpackHigh(r6, r7);
            var u0 = Avx.Shuffle(t0, t2, 0x44); var u1 = Avx.Shuffle(t0, t2, 0xEE);
            var u2 = Avx.Shuffle(t1, t3, 0x44); var u3 = Avx.Shuffle(t1, t3, 0xEE);
            var u4 = Avx.Shuffle(t4, t6, 0x44); var u5 = Avx.Shuffle(t4, t6, 0xEE);
            var u6 = Avx.Shuffle(t5, t7, 0x44); var u7 = Avx.Shuffle(t5, t7, 0xEE);
            Avx.Store(dst, Avx.Permute2x128(u0, u4, 0x20));
            Avx.Store(dst + ldd, Avx.Permute2x128(u1, u5, 0x20));
            Avx.Store(dst + 2 * ldd, Avx.Permute2x128(u2, u6, 0x20));
            Avx.Store(dst + 3 * ldd, Avx.Permute2x128(u3, u7, 0x20));
            Avx.Store(dst + 4 * ldd, Avx.Permute2x128(u0, u4, 0x31));
            Avx.Store(dst + 5 * ldd, Avx.Permute2x128(u1, u5, 0x31));
            Avx.Store(dst + 6 * ldd, Avx.Permute2x128(u2, u6, 0x31));
            Avx.Store(dst + 7 * ldd, Avx.Permute2x128(u3, u7, 0x31));
        }
    }

    /// <summary>Batch norm's shifted column moments of a rows × cols block of C (<see cref="RowKernels.AddShiftedMoments"/>).</summary>
    private static void AddTileMoments(float* tile, int ldc, int rows, int cols, float* shift, float* sums, float* squares) =>
        RowKernels.AddShiftedMoments(new ReadOnlySpan<float>(tile, (rows - 1) * ldc + cols), ldc, rows, new ReadOnlySpan<float>(shift, cols),
            new Span<float>(sums, cols), new Span<float>(squares, cols));

    /// <summary>Adds bias[0 .. cols) to each of a tile's rows.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddBias(float* tile, int ldc, int rows, int cols, float* bias)
    {
        for (int i = 0; i < rows; i++, tile += ldc)
        {
            int j = 0;
            for (; j <= cols - Vector256<float>.Count; j += Vector256<float>.Count)
                Vector256.Store(Vector256.Load(tile + j) + Vector256.Load(bias + j), tile + j);
            for (; j < cols; j++) tile[j] += bias[j];
        }
    }

    /// <summary>Copies one NR-wide row of a B panel; inline vector moves, as a call per 128 bytes would dominate packing.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void CopyPanelRow(float* src, float* dst, int nr)
    {
        if (nr == Nr512 && Vector512.IsHardwareAccelerated)
        {
            Vector512.Store(Vector512.Load(src), dst);
            Vector512.Store(Vector512.Load(src + 16), dst + 16);
        }
        else if (nr == Nr256 && Vector256.IsHardwareAccelerated)
        {
            Vector256.Store(Vector256.Load(src), dst);
            Vector256.Store(Vector256.Load(src + 8), dst + 8);
        }
        else
            for (int j = 0; j < nr; j++) dst[j] = src[j];
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void MicroKernel(KernelKind kernel, int kc, float* a, long rs, long cs, float* b, float* c, int ldc, bool add)
    {
        switch (kernel)
        {
            case KernelKind.Avx512: Kernel8x32(kc, a, rs, cs, b, c, ldc, add); break;
            case KernelKind.Avx2: Kernel6x16(kc, a, rs, cs, b, c, ldc, add); break;
            default: KernelScalar(kc, a, rs, cs, b, c, ldc, add); break;
        }
    }

    /// <summary>8 rows × 32 columns in 16 zmm accumulators; per k step 2 loads of B, 8 broadcasts of A, 16 FMAs.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel8x32(int kc, float* a, long rs, long cs, float* b, float* c, int ldc, bool add)
    {
        float* a0 = a, a1 = a + rs, a2 = a + 2 * rs, a3 = a + 3 * rs, a4 = a + 4 * rs, a5 = a + 5 * rs, a6 = a + 6 * rs, a7 = a + 7 * rs;
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default,
            c20 = default, c21 = default, c30 = default, c31 = default,
            c40 = default, c41 = default, c50 = default, c51 = default,
            c60 = default, c61 = default, c70 = default, c71 = default;
        for (int p = 0; p < kc; p++)
        {
            var b0 = Vector512.Load(b);
            var b1 = Vector512.Load(b + 16);
            Vector512<float> x;
            x = Vector512.Create(*a0); c00 = Vector512.FusedMultiplyAdd(x, b0, c00); c01 = Vector512.FusedMultiplyAdd(x, b1, c01);
            x = Vector512.Create(*a1); c10 = Vector512.FusedMultiplyAdd(x, b0, c10); c11 = Vector512.FusedMultiplyAdd(x, b1, c11);
            x = Vector512.Create(*a2); c20 = Vector512.FusedMultiplyAdd(x, b0, c20); c21 = Vector512.FusedMultiplyAdd(x, b1, c21);
            x = Vector512.Create(*a3); c30 = Vector512.FusedMultiplyAdd(x, b0, c30); c31 = Vector512.FusedMultiplyAdd(x, b1, c31);
            x = Vector512.Create(*a4); c40 = Vector512.FusedMultiplyAdd(x, b0, c40); c41 = Vector512.FusedMultiplyAdd(x, b1, c41);
            x = Vector512.Create(*a5); c50 = Vector512.FusedMultiplyAdd(x, b0, c50); c51 = Vector512.FusedMultiplyAdd(x, b1, c51);
            x = Vector512.Create(*a6); c60 = Vector512.FusedMultiplyAdd(x, b0, c60); c61 = Vector512.FusedMultiplyAdd(x, b1, c61);
            x = Vector512.Create(*a7); c70 = Vector512.FusedMultiplyAdd(x, b0, c70); c71 = Vector512.FusedMultiplyAdd(x, b1, c71);
            a0 += cs; a1 += cs; a2 += cs; a3 += cs; a4 += cs; a5 += cs; a6 += cs; a7 += cs;
            b += 32;
        }
        Store(c, c00, c01, add); c += ldc;
        Store(c, c10, c11, add); c += ldc;
        Store(c, c20, c21, add); c += ldc;
        Store(c, c30, c31, add); c += ldc;
        Store(c, c40, c41, add); c += ldc;
        Store(c, c50, c51, add); c += ldc;
        Store(c, c60, c61, add); c += ldc;
        Store(c, c70, c71, add);

        static void Store(float* row, Vector512<float> lo, Vector512<float> hi, bool add)
        {
            if (add) { lo += Vector512.Load(row); hi += Vector512.Load(row + 16); }
            lo.Store(row); hi.Store(row + 16);
        }
    }

    /// <summary>6 rows × 16 columns in 12 ymm accumulators (the AVX2 register budget).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel6x16(int kc, float* a, long rs, long cs, float* b, float* c, int ldc, bool add)
    {
        float* a0 = a, a1 = a + rs, a2 = a + 2 * rs, a3 = a + 3 * rs, a4 = a + 4 * rs, a5 = a + 5 * rs;
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default,
            c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        // One offset into all six rows of A (base + offset addressing) instead of six pointers to step: the loop
        // carries two integer additions besides its 12 FMAs and 8 loads.
        for (long o = 0, end = kc * cs; o != end; o += cs, b += 16)
        {
            var b0 = Vector256.Load(b);
            var b1 = Vector256.Load(b + 8);
            Vector256<float> x;
            x = Vector256.Create(a0[o]); c00 = Vector256.FusedMultiplyAdd(x, b0, c00); c01 = Vector256.FusedMultiplyAdd(x, b1, c01);
            x = Vector256.Create(a1[o]); c10 = Vector256.FusedMultiplyAdd(x, b0, c10); c11 = Vector256.FusedMultiplyAdd(x, b1, c11);
            x = Vector256.Create(a2[o]); c20 = Vector256.FusedMultiplyAdd(x, b0, c20); c21 = Vector256.FusedMultiplyAdd(x, b1, c21);
            x = Vector256.Create(a3[o]); c30 = Vector256.FusedMultiplyAdd(x, b0, c30); c31 = Vector256.FusedMultiplyAdd(x, b1, c31);
            x = Vector256.Create(a4[o]); c40 = Vector256.FusedMultiplyAdd(x, b0, c40); c41 = Vector256.FusedMultiplyAdd(x, b1, c41);
            x = Vector256.Create(a5[o]); c50 = Vector256.FusedMultiplyAdd(x, b0, c50); c51 = Vector256.FusedMultiplyAdd(x, b1, c51);
        }
        Store(c, c00, c01, add); c += ldc;
        Store(c, c10, c11, add); c += ldc;
        Store(c, c20, c21, add); c += ldc;
        Store(c, c30, c31, add); c += ldc;
        Store(c, c40, c41, add); c += ldc;
        Store(c, c50, c51, add);

        static void Store(float* row, Vector256<float> lo, Vector256<float> hi, bool add)
        {
            if (add) { lo += Vector256.Load(row); hi += Vector256.Load(row + 8); }
            lo.Store(row); hi.Store(row + 8);
        }
    }

    private static void KernelScalar(int kc, float* a, long rs, long cs, float* b, float* c, int ldc, bool add)
    {
        float* acc = stackalloc float[MrScalar * NrScalar];
        new Span<float>(acc, MrScalar * NrScalar).Clear();
        for (int p = 0; p < kc; p++, a += cs, b += NrScalar)
            for (int i = 0; i < MrScalar; i++)
                for (int j = 0; j < NrScalar; j++)
                    acc[i * NrScalar + j] += a[i * rs] * b[j];
        for (int i = 0; i < MrScalar; i++)
            for (int j = 0; j < NrScalar; j++)
                c[(long)i * ldc + j] = add ? c[(long)i * ldc + j] + acc[i * NrScalar + j] : acc[i * NrScalar + j];
    }

    /// <summary>Walks a rows×cols region (row stride <c>stride</c>) one cache line per step, prefetching into L2.</summary>
    private struct PrefetchStream(float* start, int rows, int cols, long stride)
    {
        private int _row, _col;

        public readonly long Lines => rows <= 0 ? 0 : (long)rows * ((cols + 15) / 16);

        public void Advance(int lines)
        {
            if (!Sse.IsSupported) return;
            for (; lines > 0 && _row < rows; lines--)
            {
                Sse.Prefetch1(start + _row * stride + _col);
                _col += 16;
                if (_col >= cols) { _col = 0; _row++; }
            }
        }
    }

    /// <summary>Per-thread packing buffers, allocated once (pinned, 64-byte aligned) and reused by every call.</summary>
    private sealed class PackBuffers
    {
        [ThreadStatic] private static PackBuffers? _current;

        public readonly float* A;
        public readonly float* B;

        private PackBuffers()
        {
            // Sized for the widest kernel, so one pair serves all of them.
            int aFloats = (MC + Mr512) * KC, bFloats = (NC + Nr512) * KC;
            A = (float*)NativeMemory.AlignedAlloc((nuint)aFloats * sizeof(float), 64);
            B = (float*)NativeMemory.AlignedAlloc((nuint)bFloats * sizeof(float), 64);
        }

        ~PackBuffers()
        {
            NativeMemory.AlignedFree(A);
            NativeMemory.AlignedFree(B);
            NativeMemory.AlignedFree(_wholeB);
        }

        /// <summary>All of op(B) packed for a row split (<see cref="Job.PackWholeB"/>): kept and grown, as a fresh one would be page-faulted in each call.</summary>
        private float* _wholeB;
        private long _wholeBFloats;

        public static PackBuffers ForThread() => _current ??= new PackBuffers();

        /// <summary>This thread's buffer for all of a packed op(B), at least <paramref name="floats"/> long.</summary>
        public float* WholeB(long floats)
        {
            if (floats > _wholeBFloats)
            {
                NativeMemory.AlignedFree(_wholeB);
                _wholeB = (float*)NativeMemory.AlignedAlloc((nuint)floats * sizeof(float), 64);
                _wholeBFloats = floats;
            }
            return _wholeB;
        }
    }
}
