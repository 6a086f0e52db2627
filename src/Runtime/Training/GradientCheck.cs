namespace OnnxMemOpt.Runtime.Training;

/// <summary>One checked parameter element: the graph's gradient and the central finite difference of the loss.</summary>
public sealed record GradientCheckSample(string Parameter, int Index, float Graph, double FiniteDifference)
{
    /// <summary>|difference − graph| / |graph| (infinite when the graph says 0 and the difference does not).</summary>
    public double RelativeError => Graph == 0
        ? (FiniteDifference == 0 ? 0 : double.PositiveInfinity)
        : Math.Abs(FiniteDifference - Graph) / Math.Abs(Graph);
}

/// <summary>What <see cref="GradientCheck.Run"/> found.</summary>
/// <param name="Loss">The batch's loss at the unperturbed parameters.</param>
/// <param name="Samples">Every checked element, parameter by parameter, largest gradients first.</param>
public sealed record GradientCheckReport(float Loss, IReadOnlyList<GradientCheckSample> Samples)
{
    /// <summary>The largest <see cref="GradientCheckSample.RelativeError"/> (0 without samples): the figure a check passes or fails on.</summary>
    public double WorstRelativeError => Samples.Count == 0 ? 0 : Samples.Max(s => s.RelativeError);
}

/// <summary>
/// Compares a training graph's gradients with central finite differences of its own loss,
/// (L(w + h) − L(w − h)) / 2h, perturbing parameters in the bound OrtValues. The elements checked
/// are each parameter's largest gradients: the loss is float32, so its rounding (≈1e-7 of the loss)
/// divided by h swamps small gradients, while for the largest ones it is far below a 1e-3 relative
/// error, and the check then tests the graph rather than the arithmetic.
/// </summary>
public static class GradientCheck
{
    /// <param name="trainer">The trainer; its parameters are restored exactly and its gradients left as the batch's.</param>
    /// <param name="batch">The batch whose loss is differentiated.</param>
    /// <param name="samples">Elements to check in all, spread evenly over the trained parameters.</param>
    /// <param name="step">The perturbation h.</param>
    public static GradientCheckReport Run(Trainer trainer, TrainingBatch batch, int samples = 16, float step = 1e-2f)
    {
        ArgumentNullException.ThrowIfNull(trainer);
        ArgumentNullException.ThrowIfNull(batch);
        ArgumentOutOfRangeException.ThrowIfLessThan(samples, 1);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(step);

        trainer.LazyResetGrad();
        float loss = trainer.Step(batch);
        TrainableParameter[] parameters = trainer.Parameters.Trained.ToArray();
        var gradients = parameters.ToDictionary(p => p.Name, p => p.Gradients.ToArray());
        var results = new List<GradientCheckSample>();
        for (int p = 0; p < parameters.Length; p++)
        {
            TrainableParameter parameter = parameters[p];
            float[] gradient = gradients[parameter.Name];
            int share = (samples / parameters.Length) + (p < samples % parameters.Length ? 1 : 0);
            foreach (int i in Enumerable.Range(0, gradient.Length).OrderByDescending(i => Math.Abs(gradient[i])).Take(share))
            {
                float original = parameter.Values[i];
                double plus = LossAt(trainer, batch, parameter, i, original + step);
                double minus = LossAt(trainer, batch, parameter, i, original - step);
                parameter.Values[i] = original;
                results.Add(new GradientCheckSample(parameter.Name, i, gradient[i], (plus - minus) / (2.0 * step)));
            }
        }
        // Leave the gradients as the unperturbed batch's, as after a plain step.
        trainer.LazyResetGrad();
        trainer.Step(batch);
        return new GradientCheckReport(loss, results);
    }

    private static double LossAt(Trainer trainer, TrainingBatch batch, TrainableParameter parameter, int index, float value)
    {
        parameter.Values[index] = value;
        trainer.LazyResetGrad();
        return trainer.Step(batch);
    }
}
