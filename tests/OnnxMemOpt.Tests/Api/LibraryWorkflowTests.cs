using OnnxMemOpt.Fixtures;
using OnnxMemOpt.Graph;
using OnnxMemOpt.Onnx;
using OnnxMemOpt.Passes;
using OnnxMemOpt.Passes.Training;
using OnnxMemOpt.Patterns;
using OnnxMemOpt.Runtime.Bench;
using OnnxMemOpt.Runtime.Rewriting;
using OnnxMemOpt.Runtime.Verification;
using OnnxMemOpt.Tests.Support;

namespace OnnxMemOpt.Tests.Api;

/// <summary>
/// docs/api.md's calls, in order, on a small ViT: what a .NET user does without the command line.
/// Each step asserts what the CLI's own tests assert of the matching command, so the library and the
/// tool cannot drift apart.
/// </summary>
public sealed class LibraryWorkflowTests
{
    [Fact]
    public void ForwardModelToVerifiedRewriteAndBenchThroughTheApi()
    {
        using var temp = new TempDirectory();
        string forwardPath = temp.File("vit.onnx");
        FixtureCatalog.Write("vit-tiny", forwardPath);
        OnnxModel forward = OnnxModel.Load(forwardPath);

        TrainingGraphResult training = TrainingGraphBuilder.BuildWithReport(forward, new TrainingGraphOptions { Trainable = TrainableSet.Lora, LoraRank = 4 });
        string trainPath = temp.File("train.onnx");
        training.Model.Save(trainPath);

        OnnxModel rewritten = OnnxModel.Load(trainPath);
        // The estimate needs sizes for the model's symbolic dims; the names are the model's own.
        DimBindings dims = BenchModel.BindInputSymbols(rewritten, batch: 2, sequence: 8);
        Assert.NotEmpty(dims.Values);
        ModelRewriteReport report = ModelRewriter.Rewrite(rewritten, new ModelRewriteRequest { Dims = dims, Options = new RewriteOptions { GeluTable = GeluTables.Calibrated } });
        Assert.Contains(report.Result.Rewrites, r => r.Pass == "regelu2");
        Assert.Contains(report.Result.Rewrites, r => r.Pass == "msln");
        Assert.NotEmpty(report.Calibrated);
        Assert.True(report.After.SavedActivationBytes < report.Before.SavedActivationBytes,
            $"saved activations {report.Before.SavedActivationBytes} -> {report.After.SavedActivationBytes}");
        string rewrittenPath = temp.File("rewritten.onnx");
        rewritten.Save(rewrittenPath);

        VerificationReport check = RewriteVerifier.Verify(trainPath, rewrittenPath, new VerifyOptions());
        Assert.InRange(check.ForwardMaxRelativeDifference, 0, 1e-5);
        Assert.NotNull(check.StepDerivatives);
        Assert.NotEmpty(check.Gradients);
        Assert.All(check.Gradients, g => Assert.InRange(g.MethodRelativeError ?? 0, 0, 1e-3));
        Assert.All(check.Activations, a => Assert.InRange(a.Local.Cosine ?? 1, 0.9, 1));

        using (GradientChecker checker = GradientChecker.PreferringFloat64(OnnxModel.Load(trainPath), randomizeZeroParameters: 0.1))
        {
            GradientCheckResult gradients = checker.Check(checker.Sample(8));
            Assert.True(checker.Float64);
            Assert.InRange(gradients.MaxRelErr, 0, 1e-5);
        }

        BenchModel model = BenchModel.FromForward(forward, batch: 2, sequence: 8);
        BenchOutcome outcome = BenchRunner.Run(model, "lora-all", TrainableSets.Options("lora-all", model, loraRank: 4, loraAlpha: 8, seed: 1),
            new BenchSettings { Steps = 1 }, temp.Path);
        Assert.True(outcome.Rewritten.MeasuredPeakBytes > 0 && outcome.Baseline.MeasuredPeakBytes > 0);
        Assert.True(float.IsFinite(outcome.Rewritten.FinalLoss));

        // The canonical text is a function of the model alone.
        Assert.Equal(ModelText.Of(OnnxModel.Load(rewrittenPath)), ModelText.Of(OnnxModel.Load(rewrittenPath)));
    }
}
