namespace OnnxMemOpt.Graph.Shapes;

/// <summary>Infers output types of one op from its inputs' types (and tracked constant values).</summary>
public delegate void ShapeRule(OnnxNode node, ShapeContext context);
