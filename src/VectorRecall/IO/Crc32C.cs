using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;

namespace VectorRecall.IO;

/// <summary>CRC-32C (Castagnoli), with the SSE 4.2 instruction where there is one: several GB/s, so a checksum over a large index costs little.</summary>
internal struct Crc32C
{
    private static readonly uint[] Table = BuildTable();
    private uint _state;

    public Crc32C() => _state = 0xFFFFFFFFu;

    public readonly uint Value => ~_state;

    public void Append(ReadOnlySpan<byte> data)
    {
        uint crc = _state;
        if (Sse42.X64.IsSupported)
        {
            var words = MemoryMarshal.Cast<byte, ulong>(data);
            ulong c = crc;
            foreach (ulong w in words) c = Sse42.X64.Crc32(c, w);
            crc = (uint)c;
            data = data[(words.Length * 8)..];
            foreach (byte b in data) crc = Sse42.Crc32(crc, b);
        }
        else
        {
            foreach (byte b in data) crc = Table[(crc ^ b) & 0xFF] ^ (crc >> 8);
        }
        _state = crc;
    }

    public static uint Compute(ReadOnlySpan<byte> data)
    {
        var crc = new Crc32C();
        crc.Append(data);
        return crc.Value;
    }

    private static uint[] BuildTable()
    {
        var table = new uint[256];
        for (uint i = 0; i < 256; i++)
        {
            uint c = i;
            for (int j = 0; j < 8; j++) c = (c & 1) != 0 ? 0x82F63B78u ^ (c >> 1) : c >> 1;
            table[i] = c;
        }
        return table;
    }
}
