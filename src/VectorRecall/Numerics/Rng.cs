using System.Runtime.CompilerServices;

namespace VectorRecall.Numerics;

/// <summary>
/// A seeded random source (xoshiro256**, seeded through SplitMix64). The same seed gives the same
/// stream on every machine and runtime, which <see cref="System.Random"/> does not promise.
/// </summary>
public sealed class Rng
{
    private ulong _s0, _s1, _s2, _s3;
    private double _spareNormal;
    private bool _hasSpare;

    public Rng(ulong seed)
    {
        ulong x = seed;
        _s0 = SplitMix(ref x); _s1 = SplitMix(ref x); _s2 = SplitMix(ref x); _s3 = SplitMix(ref x);
    }

    /// <summary>An independent stream derived from this seed and a stream number (e.g. one per thread).</summary>
    public Rng Fork(ulong stream) => new(NextUInt64() ^ (stream * 0x9E3779B97F4A7C15UL));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong NextUInt64()
    {
        ulong result = ulong.RotateLeft(_s1 * 5, 7) * 9;
        ulong t = _s1 << 17;
        _s2 ^= _s0; _s3 ^= _s1; _s1 ^= _s2; _s0 ^= _s3;
        _s2 ^= t;
        _s3 = ulong.RotateLeft(_s3, 45);
        return result;
    }

    /// <summary>Uniform integer in [0, n), without modulo bias (Lemire's method).</summary>
    public int NextInt(int n)
    {
        if (n <= 0) throw new ArgumentOutOfRangeException(nameof(n), "n must be positive");
        ulong bound = (ulong)n;
        while (true)
        {
            UInt128 m = (UInt128)(NextUInt64() & 0xFFFFFFFFUL) * bound;
            ulong low = (ulong)m & 0xFFFFFFFFUL;
            if (low >= (0x1_0000_0000UL - bound) % bound) return (int)(m >> 32);
        }
    }

    /// <summary>Uniform in [0, 1) with 53 bits.</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Uniform in [0, 1) with 24 bits.</summary>
    public float NextFloat() => (NextUInt64() >> 40) * (1.0f / (1 << 24));

    /// <summary>Standard normal (Box–Muller, both values used).</summary>
    public double NextNormal()
    {
        if (_hasSpare) { _hasSpare = false; return _spareNormal; }
        double u1;
        do u1 = NextDouble(); while (u1 <= double.Epsilon);
        double u2 = NextDouble();
        double r = Math.Sqrt(-2.0 * Math.Log(u1));
        _spareNormal = r * Math.Sin(2 * Math.PI * u2);
        _hasSpare = true;
        return r * Math.Cos(2 * Math.PI * u2);
    }

    public void FillNormal(Span<float> span, float mean, float std)
    {
        for (int i = 0; i < span.Length; i++) span[i] = mean + std * (float)NextNormal();
    }

    public void FillUniform(Span<float> span, float low, float high)
    {
        float width = high - low;
        for (int i = 0; i < span.Length; i++) span[i] = low + width * NextFloat();
    }

    /// <summary>Fisher–Yates shuffle.</summary>
    public void Shuffle<T>(Span<T> span)
    {
        for (int i = span.Length - 1; i > 0; i--)
        {
            int j = NextInt(i + 1);
            (span[i], span[j]) = (span[j], span[i]);
        }
    }

    private static ulong SplitMix(ref ulong x)
    {
        ulong z = x += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
