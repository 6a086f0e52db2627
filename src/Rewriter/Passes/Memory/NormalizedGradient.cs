using OnnxMemOpt.Graph;
using OnnxMemOpt.Onnx.Proto;
using OnnxMemOpt.Patterns;

namespace OnnxMemOpt.Passes.Memory;

/// <summary>
/// dẑ, the gradient MsLayerNormGrad / MsRmsNormGrad read: dY⊙γ, where dY is the accumulated
/// gradient of y = γ⊙ẑ + β. Layers that took the folded affine (<see cref="LinearFold"/>) already
/// give terms of dẑ: those terms leave the Sum that accumulates dY (which keeps the other readers'
/// terms, or goes when none is left) and join dẑ after the γ multiply, so dẑ stays exact.
/// </summary>
internal sealed class NormalizedGradient
{
    private readonly string _dY;
    private readonly OnnxNode? _accumulation;
    private readonly List<string> _restTerms;
    private readonly IReadOnlyList<string> _foldedTerms;

    /// <param name="graph">
    /// The graph; the Sum producing <paramref name="dY"/> is looked up in it when the folded terms are
    /// its inputs.
    /// </param>
    /// <param name="dY">The accumulated gradient of the norm's output y.</param>
    /// <param name="foldedTerms">Terms of dY that are now terms of dẑ: dY itself, or inputs of the Sum that makes dY.</param>
    public NormalizedGradient(OnnxGraph graph, string dY, IReadOnlyList<string> foldedTerms)
    {
        _dY = dY;
        _foldedTerms = foldedTerms;
        _restTerms = [];
        if (foldedTerms.Count == 0)
        {
            Rest = dY;
        }
        else if (!foldedTerms.Contains(dY))
        {
            _accumulation = graph.Producer(dY)!;
            _restTerms = _accumulation.Inputs.ToList();
            foreach (string term in foldedTerms) _restTerms.Remove(term);
            Rest = _restTerms.Count switch { 0 => null, 1 => _restTerms[0], _ => dY };
        }
    }

    /// <summary>What is left of dY for the γ multiply (null when every term was folded).</summary>
    public string? Rest { get; }

    /// <summary>Nodes computing dẑ (added to <paramref name="nodes"/>); returns dẑ's name.</summary>
    public string Build(OnnxGraph graph, string scale, string normalized, string scope, List<NodeProto> nodes)
    {
        var terms = new List<string>(_foldedTerms);
        if (Rest is not null)
        {
            string scaledRest = graph.UniqueName($"{normalized}_grad_from_output");
            nodes.Add(GraphEdits.Node("Mul", "", graph.UniqueName($"{scope}/ScaleGrad"), [Rest, scale], [scaledRest]));
            terms.Insert(0, scaledRest);
        }
        if (terms.Count == 1)
        {
            return terms[0];
        }
        string dZ = graph.UniqueName($"{normalized}_grad");
        nodes.Add(GraphEdits.Node("Sum", "", graph.UniqueName($"{scope}/AccumulateNormalizedGrad"), terms, [dZ]));
        return dZ;
    }

    /// <summary>Takes the folded terms out of dY's Sum (after the norm's gradient node, which read dY, is gone).</summary>
    public void RewriteAccumulation(OnnxGraph graph)
    {
        if (_accumulation is null)
        {
            return;
        }
        graph.ReplaceNodes([_accumulation], _restTerms.Count > 1
            ? [GraphEdits.Node("Sum", "", _accumulation.Name, _restTerms, [_dY])]
            : []);
    }
}
