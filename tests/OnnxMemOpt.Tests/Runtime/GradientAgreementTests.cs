using OnnxMemOpt.Runtime.Verification;

namespace OnnxMemOpt.Tests.Runtime;

/// <summary>Cosine and relative error of two gradients, and what is reported when either is all zeros.</summary>
public class GradientAgreementTests
{
    [Fact]
    public void ComparedGradientsHaveACosine()
    {
        GradientAgreement agreement = GradientAgreement.Of([1.0, 2.0, 2.0], [2.0, 4.0, 4.0]);
        Assert.Equal(1.0, agreement.Cosine!.Value, 12);
        Assert.Equal(1.0, agreement.RelativeError, 12);
        Assert.Null(agreement.ZeroNote);
    }

    [Fact]
    public void GradientsZeroInBothHaveNoCosine()
    {
        GradientAgreement agreement = GradientAgreement.Of([0.0, 0.0], [0.0, 0.0]);
        Assert.Null(agreement.Cosine);
        Assert.Equal(0.0, agreement.RelativeError);
        Assert.Equal(GradientZeros.Both, agreement.Zeros);
        Assert.Equal("zero in both", agreement.ZeroNote);
        Assert.True(double.IsNaN(GradientComparison.Cosine([0.0], [0.0])));
    }

    [Fact]
    public void AGradientZeroOnOneSideOnlySaysWhich()
    {
        Assert.Equal(GradientZeros.ReferenceOnly, GradientAgreement.Of([0.0, 0.0], [1.0, 0.0]).Zeros);
        GradientAgreement candidateZero = GradientAgreement.Of([3.0, 4.0], [0.0, 0.0]);
        Assert.Equal(GradientZeros.CandidateOnly, candidateZero.Zeros);
        Assert.Equal(1.0, candidateZero.RelativeError, 12);
        Assert.Null(candidateZero.Cosine);
    }
}
