using OnnxMemOpt.Runtime.Training;

namespace OnnxMemOpt.Tests.Runtime;

public sealed class LearningRateScheduleTests
{
    [Fact]
    public void WarmupRisesLinearlyThenCosineDecaysToTheMinimum()
    {
        var schedule = new WarmupCosineSchedule(Peak: 1e-3f, WarmupSteps: 4, TotalSteps: 14, Minimum: 1e-5f);
        Assert.Equal(0.25e-3f, schedule.LearningRate(0), 9);
        Assert.Equal(0.75e-3f, schedule.LearningRate(2), 9);
        Assert.Equal(1e-3f, schedule.LearningRate(4), 9);
        // Half way through the 10 decay steps: cos(π/2) = 0, so the mean of peak and minimum.
        Assert.Equal((1e-3 + 1e-5) / 2, schedule.LearningRate(9), 8);
        Assert.Equal(1e-5f, schedule.LearningRate(14), 9);
        Assert.Equal(1e-5f, schedule.LearningRate(100), 9);
        for (long step = 4; step < 14; step++)
        {
            Assert.True(schedule.LearningRate(step + 1) < schedule.LearningRate(step));
        }
    }

    [Fact]
    public void ConstantIsConstant() => Assert.Equal(0.5f, new ConstantSchedule(0.5f).LearningRate(1000));
}
