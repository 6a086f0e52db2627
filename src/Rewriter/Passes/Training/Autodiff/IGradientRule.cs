using OnnxMemOpt.Graph;

namespace OnnxMemOpt.Passes.Training.Autodiff;

/// <summary>
/// The gradient of one op (or a small family of ops): given the forward node and the gradients
/// of its outputs, it emits the nodes that compute the gradient of each input the context needs
/// and hands each one to <see cref="GradientContext.AddGradient"/>.
/// </summary>
public interface IGradientRule
{
    /// <summary>The ops this rule differentiates, as (domain, op type); domain "*" matches any domain.</summary>
    IEnumerable<(string Domain, string OpType)> Ops { get; }

    /// <summary>
    /// Called before differentiation on every forward node that will be differentiated, while the
    /// forward graph may still change: a rule may add outputs its gradient op needs (e.g. a
    /// LayerNormalization's Mean and InvStdDev). Returns true when it changed the node.
    /// </summary>
    bool PrepareForward(OnnxNode node) => false;

    /// <summary>Emits the gradients of <paramref name="node"/>'s inputs. <paramref name="outputGradients"/>[i] is null when output i does not reach the loss.</summary>
    void Backward(OnnxNode node, IReadOnlyList<string?> outputGradients, GradientContext context);
}
