using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace VectorRecall.Numerics;

/// <summary>
/// Fast scan (André, Kermarrec and Le Scouarnec, 2015; faiss's <c>IndexPQFastScan</c>): 32 codes made of 4-bit sub-codes
/// summed through 16-entry byte tables, one table per sub-code position, with one byte shuffle looking up all 32 codes at
/// a time. A block holds the 32 codes transposed: for each pair of sub-code positions (2p, 2p + 1), 16 bytes for 2p then
/// 16 for 2p + 1, byte j holding code j's sub-code in its low half and code j + 16's in its high half. The tables are
/// 16 bytes per position, in order, so one 32-byte load takes the pair's two tables beside the pair's 32 bytes of codes.
/// </summary>
internal static unsafe class FastScan
{
    /// <summary>Codes per block.</summary>
    public const int BlockSize = 32;

    /// <summary>Bytes of a block of 32 codes of <paramref name="groups"/> 4-bit sub-codes (an even number).</summary>
    public static int BlockBytes(int groups) => groups * 16;

    /// <summary>
    /// Writes a block from 32 codes of <paramref name="groups"/> 4-bit sub-codes, <paramref name="codes"/> holding them one
    /// after another, groups / 2 bytes each (sub-code g in the low half of byte g / 2 when g is even, in its high half when
    /// odd: bit i of a bit string is then bit i % 8 of byte i / 8). Shorter input leaves the missing codes zero.
    /// </summary>
    public static void Pack(ReadOnlySpan<byte> codes, int groups, byte* block)
    {
        int bytes = groups / 2;
        if (codes.Length % bytes != 0 || codes.Length > BlockSize * bytes) throw new ArgumentException($"{codes.Length} bytes are not up to {BlockSize} codes of {bytes}");
        int count = codes.Length / bytes;
        new Span<byte>(block, BlockBytes(groups)).Clear();
        for (int j = 0; j < count; j++)
        {
            var code = codes.Slice(j * bytes, bytes);
            // Code j sits in the low halves of the pair's bytes j (position 2p) and 16 + j (2p + 1); code 16 + j in the high halves.
            int row = j & 15;
            if (j < 16)
                for (int p = 0; p < bytes; p++) { block[32 * p + row] |= (byte)(code[p] & 0x0F); block[32 * p + 16 + row] |= (byte)(code[p] >> 4); }
            else
                for (int p = 0; p < bytes; p++) { block[32 * p + row] |= (byte)(code[p] << 4); block[32 * p + 16 + row] |= (byte)(code[p] & 0xF0); }
        }
    }

    /// <summary>
    /// <paramref name="sums"/>[j] = Σ_g tables[16·g + sub-code g of code j] for the block's 32 codes: with AVX2 two shuffles
    /// per pair of positions, summed in 16-bit lanes (flushed to 32 bits every 256 pairs, before they could overflow).
    /// </summary>
    public static void Accumulate(byte* block, byte* tables, int groups, int* sums)
    {
        if (Avx2.IsSupported) AccumulateAvx2(block, tables, groups, sums);
        else AccumulateScalar(block, tables, groups, sums);
    }

    /// <summary>The scalar path: a table lookup per code and position.</summary>
    internal static void AccumulateScalar(byte* block, byte* tables, int groups, int* sums)
    {
        for (int j = 0; j < BlockSize; j++)
        {
            int sum = 0, shift = j < 16 ? 0 : 4;
            for (int g = 0; g < groups; g++) sum += tables[16 * g + ((block[16 * g + (j & 15)] >> shift) & 0xF)];
            sums[j] = sum;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void AccumulateAvx2(byte* block, byte* tables, int groups, int* sums)
    {
        var low = Vector256.Create((byte)0x0F);
        for (int j = 0; j < BlockSize; j++) sums[j] = 0;
        for (int p0 = 0; p0 < groups / 2; p0 += 256)
        {
            Vector256<ushort> a0 = default, a1 = default, a2 = default, a3 = default;
            int end = Math.Min(groups / 2, p0 + 256);
            for (int p = p0; p < end; p++)
            {
                var codes = Avx.LoadVector256(block + 32 * p);
                var table = Avx.LoadVector256(tables + 32 * p);
                var lo = Avx2.Shuffle(table, Avx2.And(codes, low));
                var hi = Avx2.Shuffle(table, Avx2.And(Avx2.ShiftRightLogical(codes.AsUInt16(), 4).AsByte(), low));
                // Lane 0 holds position 2p's values, lane 1 position 2p + 1's; widened to 16 bits, codes 0–7, 8–15, 16–23, 24–31.
                a0 = Avx2.Add(a0, Avx2.UnpackLow(lo, Vector256<byte>.Zero).AsUInt16());
                a1 = Avx2.Add(a1, Avx2.UnpackHigh(lo, Vector256<byte>.Zero).AsUInt16());
                a2 = Avx2.Add(a2, Avx2.UnpackLow(hi, Vector256<byte>.Zero).AsUInt16());
                a3 = Avx2.Add(a3, Avx2.UnpackHigh(hi, Vector256<byte>.Zero).AsUInt16());
            }
            AddLanes(a0, sums);
            AddLanes(a1, sums + 8);
            AddLanes(a2, sums + 16);
            AddLanes(a3, sums + 24);
        }
    }

    /// <summary>Adds the two lanes' eight 16-bit sums (the even and the odd positions) to eight 32-bit totals.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddLanes(Vector256<ushort> sums16, int* totals)
    {
        var both = Avx2.ConvertToVector256Int32(sums16.GetLower()) + Avx2.ConvertToVector256Int32(sums16.GetUpper());
        Avx.Store(totals, Avx.LoadVector256(totals) + both);
    }
}
