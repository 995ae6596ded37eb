using VectorRecall.Numerics;

namespace VectorRecall.SemanticIds;

/// <summary>Collisions at each stage of <see cref="SemanticIdGenerator.Generate"/>.</summary>
public sealed record GenerationReport(double CollisionRateBefore, int CollidingGroupsBefore, double CollisionRateAfterSinkhorn, int Rounds,
    int ExtraLevelSize, double FinalCollisionRate);

/// <summary>
/// Collision-free semantic ids from a trained RQ-VAE: every item's nearest-codeword codes, then up
/// to <c>maxRounds</c> rounds that re-encode only the items of each colliding group with
/// Sinkhorn-Knopp on the last level (a balanced assignment within the group pushes its members
/// onto different last codes); if some items still share a code, an extra level numbers the
/// members of each group 0, 1, … (TIGER's approach; 0 for every other item), so the result never collides.
/// </summary>
public static class SemanticIdGenerator
{
    /// <summary>The last level's ε when the model was trained without Sinkhorn there (the reference implementation's value).</summary>
    public const float DefaultEpsilon = 0.003f;

    public static (SemanticCodes Codes, GenerationReport Report) Generate(RqVae model, Tensor items, int maxRounds = 20, float? lastEpsilon = null)
    {
        var quantizer = model.Quantizer;
        int levels = quantizer.Levels;
        var latent = model.EncodeLatent(items);
        var codes = new SemanticCodes(quantizer.Encode(latent), model.Config.NumEmbList);
        double before = codes.CollisionRate;
        int groupsBefore = codes.CollidingGroups().Count;

        var epsilons = new float[levels];
        epsilons[^1] = lastEpsilon ?? (model.Config.SkEpsilons[^1] > 0 ? model.Config.SkEpsilons[^1] : DefaultEpsilon);
        int rounds = 0;
        for (; rounds < maxRounds; rounds++)
        {
            var groups = codes.CollidingGroups();
            if (groups.Count == 0) break;
            foreach (var group in groups)
            {
                var rows = new Tensor(group.Count, latent.Cols);
                for (int i = 0; i < group.Count; i++) latent.Row(group[i]).CopyTo(rows.Row(i));
                var again = quantizer.Encode(rows, epsilons, model.Config.SkIters);
                for (int i = 0; i < group.Count; i++) again.AsSpan(i * levels, levels).CopyTo(codes.Codes.AsSpan(group[i] * levels, levels));
            }
        }
        double afterSinkhorn = codes.CollisionRate;
        var remaining = codes.CollidingGroups();
        if (remaining.Count == 0) return (codes, new GenerationReport(before, groupsBefore, afterSinkhorn, rounds, 0, 0));

        int extra = remaining.Max(g => g.Count);
        var extended = new int[codes.Count * (levels + 1)];
        for (int i = 0; i < codes.Count; i++) codes.Of(i).CopyTo(extended.AsSpan(i * (levels + 1), levels));
        foreach (var group in remaining)
            for (int j = 0; j < group.Count; j++) extended[group[j] * (levels + 1) + levels] = j;
        var final = new SemanticCodes(extended, [.. model.Config.NumEmbList, extra]);
        return (final, new GenerationReport(before, groupsBefore, afterSinkhorn, rounds, extra, final.CollisionRate));
    }
}
