using System.Buffers.Binary;
using System.Text;
using VectorRecall.IO;

namespace VectorRecall.Tests.IO;

public class VecsTests
{
    private static void WriteVecs(string path, int elementSize, params int[][] rows)
    {
        using var s = File.Create(path);
        foreach (var row in rows)
        {
            var d = new byte[4]; BinaryPrimitives.WriteInt32LittleEndian(d, row.Length); s.Write(d);
            foreach (int v in row)
            {
                if (elementSize == 1) s.WriteByte((byte)v);
                else if (elementSize == 4 && path.EndsWith(".fvecs")) { var b = new byte[4]; BinaryPrimitives.WriteSingleLittleEndian(b, v + 0.5f); s.Write(b); }
                else { var b = new byte[4]; BinaryPrimitives.WriteInt32LittleEndian(b, v); s.Write(b); }
            }
        }
    }

    [Fact]
    public void ReadsAllThreeKinds()
    {
        using var dir = new TempDir();
        WriteVecs(dir.File("a.fvecs"), 4, [1, 2, 3], [4, 5, 6]);
        WriteVecs(dir.File("a.ivecs"), 4, [7, 8], [9, 10], [11, 12]);
        WriteVecs(dir.File("a.bvecs"), 1, [255, 0, 7, 1]);
        var f = Vecs.ReadFvecs(dir.File("a.fvecs"));
        Assert.Equal([1.5f, 2.5f, 3.5f, 4.5f, 5.5f, 6.5f], f.ToArray());
        Assert.Equal(2, f.Rows);
        var i = Vecs.ReadIvecs(dir.File("a.ivecs"));
        Assert.Equal([7, 8, 9, 10, 11, 12], i.Data);
        Assert.Equal([3, 2], i.Shape.ToArray());
        Assert.Equal([255f, 0f, 7f, 1f], Vecs.ReadBvecs(dir.File("a.bvecs")).ToArray());
        Assert.Equal(1, Vecs.ReadFvecs(dir.File("a.fvecs"), maxRows: 1).Rows);
    }

    [Fact]
    public void MalformedFilesGiveClearErrors()
    {
        using var dir = new TempDir();
        string path = dir.File("bad.fvecs");
        WriteVecs(path, 4, [1, 2, 3], [4, 5, 6]);
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..^2]);
        var ex = Assert.Throws<FileFormatException>(() => Vecs.ReadFvecs(path));
        Assert.Contains(path, ex.Message);
        Assert.Contains("not a multiple", ex.Message);

        WriteVecs(path, 4, [1, 2, 3], [4, 5, 6]);
        bytes = File.ReadAllBytes(path);
        bytes[16] = 2; // second vector claims dimension 2
        File.WriteAllBytes(path, bytes);
        Assert.Contains("vector 1 has dimension 2", Assert.Throws<FileFormatException>(() => Vecs.ReadFvecs(path)).Message);

        File.WriteAllBytes(path, [0, 0, 0, 0x80, 1, 2, 3, 4]);
        Assert.Contains("not plausible", Assert.Throws<FileFormatException>(() => Vecs.ReadFvecs(path)).Message);
        File.WriteAllBytes(path, [1, 0]);
        Assert.Contains("too short", Assert.Throws<FileFormatException>(() => Vecs.ReadFvecs(path)).Message);
    }
}
