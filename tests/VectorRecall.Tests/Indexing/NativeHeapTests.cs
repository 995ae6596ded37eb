using VectorRecall.Indexing;

namespace VectorRecall.Tests.Indexing;

public unsafe class NativeHeapTests
{
    [Theory]
    [InlineData(64)]
    [InlineData(3 << 20)]   // large enough to be asked for 2 MiB pages, not a whole number of them
    public void ASegmentIsZeroedWritableAndAlignedToACacheLine(int bytes)
    {
        byte* segment = NativeHeap.AllocateSegment((nuint)bytes);
        try
        {
            Assert.Equal(0, (long)segment % 64);
            var span = new Span<byte>(segment, bytes);
            Assert.True(span.IndexOfAnyExcept((byte)0) < 0);
            span.Fill(7);
            Assert.Equal(7, span[^1]);
        }
        finally { NativeHeap.Free(segment, (nuint)bytes); }
    }
}
