using VectorRecall.Numerics;

namespace VectorRecall.Tests.Numerics;

public class TensorTests
{
    [Fact]
    public void RowsAndViewsShareStorage()
    {
        var t = Tensor.FromArray([0, 1, 2, 3, 4, 5, 6, 7], 4, 2);
        Assert.Equal(4, t.Rows);
        Assert.Equal(2, t.Cols);
        Assert.Equal([4f, 5f], t.Row(2).ToArray());
        var view = t.RowRange(1, 2);
        Assert.Equal([2f, 3f, 4f, 5f], view.ToArray());
        view[1, 0] = 40;
        Assert.Equal(40f, t[2, 0]);
        Assert.Throws<ArgumentOutOfRangeException>(() => t.RowRange(3, 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => t.Row(4));
    }

    [Fact]
    public void ReshapeChecksElementCount()
    {
        var t = Tensor.Zeros(2, 6);
        Assert.Equal(3, t.Reshape(3, 4).Rows);
        Assert.Throws<ArgumentException>(() => t.Reshape(5, 2));
        Assert.Throws<ArgumentException>(() => Tensor.FromArray(new float[5], 2, 3));
    }

    [Fact]
    public void ScalarsAndVectors()
    {
        var s = new Tensor();
        Assert.Equal(1, s.Length);
        var v = Tensor.Zeros(7);
        Assert.Equal(1, v.Rows);
        Assert.Equal(7, v.Cols);
    }

    [Fact]
    public void IndexTensorsHoldIntegers()
    {
        var ids = new IndexTensor<long>([1L, 2L, 3L, 4L, 5L, 6L], 2, 3);
        Assert.Equal(6L, ids[5]);
        Assert.Equal(2, ids.Shape[0]);
        Assert.Throws<ArgumentException>(() => new IndexTensor<int>(new int[5], 2, 3));
    }
}
