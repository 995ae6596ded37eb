using VectorRecall.Autograd;
using VectorRecall.Nn;
using VectorRecall.Numerics;
using VectorRecall.Optim;
using VectorRecall.Towers;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;

namespace VectorRecall.Tests.Towers;

public class SequenceEncoderTests
{
    private const int Items = 11, Length = 9;

    /// <summary>The target is a fixed, order-dependent function of the two items before it: (3a + b + 1) mod n, so (a, b) and (b, a) lead to different items.</summary>
    private static int Next(int a, int b) => (3 * a + b + 1) % Items;

    /// <summary>
    /// <paramref name="count"/> sequences of three triples (a, b, f(a, b)) with a and b drawn at random, as tokens
    /// (item + 1): both orders of every pair are equally likely, so only the order tells the target.
    /// </summary>
    private static int[] Sequences(int count, Rng rng)
    {
        var tokens = new int[count * Length];
        for (int s = 0; s < count; s++)
            for (int t = 0; t < Length; t += 3)
            {
                int a = rng.NextInt(Items), b = rng.NextInt(Items);
                tokens[s * Length + t] = a + 1;
                tokens[s * Length + t + 1] = b + 1;
                tokens[s * Length + t + 2] = Next(a, b) + 1;
            }
        return tokens;
    }

    /// <summary>Trains with a full softmax at the positions whose next item is determined, then returns HR@1 on fresh sequences.</summary>
    private static double TrainAndMeasure(Func<int[], SequenceShape, Variable> outputs, Func<Variable, Variable> scores, Module model, int steps)
    {
        var rng = new Rng(11);
        var optimizer = new AdamW(model.Parameters(), 1e-2, weightDecay: 0);
        const int batch = 32;
        for (int step = 0; step < steps; step++)
        {
            var tokens = Sequences(batch, rng);
            var shape = new SequenceShape(batch, Length - 1);
            var (input, rows, targets) = Shift(tokens, batch);
            using var tape = new Tape();
            var logits = Ops.GatherRows(scores(outputs(input, shape)), rows);
            var loss = Ops.CrossEntropy(logits, targets);
            tape.Backward(loss);
            optimizer.Step();
            optimizer.ZeroGrad();
        }
        model.Eval();
        var test = Sequences(200, new Rng(99));
        var (testInput, testRows, testTargets) = Shift(test, 200);
        var testScores = Tape.NoGrad(() => scores(outputs(testInput, new SequenceShape(200, Length - 1))).Value);
        int hits = 0;
        for (int i = 0; i < testRows.Length; i++) hits += TensorPrimitives.IndexOfMax(testScores.Row(testRows[i])) == testTargets[i] ? 1 : 0;
        return (double)hits / testRows.Length;
    }

    /// <summary>Inputs are positions 0 … L−2, targets 1 … L−1; only the positions whose next item is f of the last two (t ≡ 1 mod 3) are scored.</summary>
    private static (int[] Input, int[] Rows, int[] Targets) Shift(int[] tokens, int count)
    {
        var input = new int[count * (Length - 1)];
        var rows = new List<int>();
        var targets = new List<int>();
        for (int s = 0; s < count; s++)
            for (int t = 0; t < Length - 1; t++)
            {
                input[s * (Length - 1) + t] = tokens[s * Length + t];
                if (t % 3 == 1) { rows.Add(s * (Length - 1) + t); targets.Add(tokens[s * Length + t + 1] - 1); }
            }
        return (input, rows.ToArray(), targets.ToArray());
    }

    [Fact]
    public void LearnsAnOrderDependentNextItemThatABagCannot()
    {
        var encoder = new SequenceEncoder(new SequenceEncoderConfig { NumItems = Items, Dim = 32, MaxLength = Length, Blocks = 2, Heads = 2, Dropout = 0f }, new Rng(5));
        double sequence = TrainAndMeasure(encoder.Forward, encoder.ScoreAllItems, encoder, steps: 450);
        Assert.True(sequence > 0.9, $"the sequence encoder's HR@1 {sequence:F3} should be above 0.9");

        // The bag: the mean of the last two items' embeddings, through a linear layer, scored by the same kind of item table.
        var bag = new BagOfLastTwo(Items, 32, new Rng(6));
        double bagged = TrainAndMeasure(bag.Forward, bag.Score, bag, steps: 150);
        Assert.True(bagged < 0.7, $"a bag of the last two items cannot tell (a, b) from (b, a), yet reached HR@1 {bagged:F3}");
    }

    private sealed class BagOfLastTwo : Module
    {
        public BagOfLastTwo(int items, int dim, Rng rng)
        {
            Items = RegisterModule("items", new Embedding(items + 1, dim, rng));
            Mix = RegisterModule("mix", new Sequential(new Linear(dim, 64, rng), new Relu(), new Linear(64, dim, rng)));
        }

        private Embedding Items { get; }
        private Sequential Mix { get; }

        public Variable Forward(int[] tokens, SequenceShape shape)
        {
            var indices = new List<int>();
            var offsets = new int[tokens.Length];
            for (int i = 0; i < tokens.Length; i++)
            {
                offsets[i] = indices.Count;
                indices.Add(tokens[i]);
                if (i % shape.Length > 0) indices.Add(tokens[i - 1]);
            }
            return Mix.Forward(Ops.EmbeddingBag(Items.Weight, [.. indices], offsets, BagMode.Mean));
        }

        public Variable Score(Variable outputs) => Ops.MatMul(outputs, Ops.SliceRows(Items.Weight, 1, Items.Count - 1), transposeB: true);
    }

    [Fact]
    public void LeftPaddingChangesNothingAndLaterItemsAreUnseen()
    {
        var encoder = new SequenceEncoder(new SequenceEncoderConfig { NumItems = 10, Dim = 8, MaxLength = 6, Blocks = 2, Heads = 2 }, new Rng(7));
        encoder.Eval();
        Tensor Run(int[] tokens, int padding) => Tape.NoGrad(() => encoder.Forward(tokens, new SequenceShape(1, tokens.Length, [padding])).Value);
        var plain = Run([3, 5, 7, 2], 0);
        var padded = Run([0, 0, 3, 5, 7, 2], 2);
        for (int t = 0; t < 4; t++)
            for (int j = 0; j < 8; j++) Assert.Equal(plain[t, j], padded[2 + t, j], 1e-4);
        // Causality: the outputs after 3 and 5 cannot see the items that follow them.
        var a = Run([3, 5, 7, 2], 0);
        var b = Run([3, 5, 9, 9], 0);
        for (int t = 0; t < 2; t++) Assert.Equal(a.Row(t).ToArray(), b.Row(t).ToArray());
        Assert.NotEqual(a.Row(3).ToArray(), b.Row(3).ToArray());
        Assert.Throws<ArgumentException>(() => encoder.Forward([1, 2, 3, 4, 5, 6, 7], new SequenceShape(1, 7)));
    }

    [Fact]
    public void PackedSequencesEqualPaddedOnes()
    {
        var encoder = new SequenceEncoder(new SequenceEncoderConfig { NumItems = 10, Dim = 8, MaxLength = 6, Blocks = 2, Heads = 2 }, new Rng(7));
        encoder.Eval();
        var packed = Tape.NoGrad(() => encoder.Forward([3, 5, 7, 2, 9, 1, 4], SequenceShape.Packed([4, 1, 2])).Value);
        var padded = Tape.NoGrad(() => encoder.Forward([3, 5, 7, 2, 0, 0, 0, 9, 0, 0, 1, 4], new SequenceShape(3, 4, [0, 3, 2])).Value);
        int[] packedRows = [0, 1, 2, 3, 4, 5, 6], paddedRows = [0, 1, 2, 3, 7, 10, 11];
        for (int i = 0; i < packedRows.Length; i++)
            for (int j = 0; j < 8; j++) Assert.Equal(padded[paddedRows[i], j], packed[packedRows[i], j], 1e-4);
    }
}
