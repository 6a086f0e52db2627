using OnnxMemOpt.Onnx.Proto;

namespace OnnxMemOpt.Tests.Support;

/// <summary>
/// An If node nesting <c>depth</c> subgraphs deep, for the nesting-limit tests and the fuzzer. Only
/// the then-branch nests (a chain): sharing one body in both branches would make the serialised
/// model grow as 2^depth. Level i's If writes <c>out{i}</c>; the innermost body copies
/// <paramref name="leafInput"/>, every else-branch copies <paramref name="condition"/>.
/// </summary>
public static class NestedIfChain
{
    public static NodeProto Build(int depth, string condition, string leafInput)
    {
        GraphProto body = new() { Name = "leaf" };
        body.Node.Add(new NodeProto { OpType = "Identity", Input = { leafInput }, Output = { "leaf_out" } });
        body.Output.Add(new ValueInfoProto { Name = "leaf_out" });
        for (int i = 0; i < depth; i++)
        {
            var outer = new GraphProto { Name = $"level{i}" };
            var ifNode = new NodeProto { OpType = "If", Input = { condition }, Output = { $"out{i}" } };
            var other = new GraphProto { Name = $"else{i}" };
            other.Node.Add(new NodeProto { OpType = "Identity", Input = { condition }, Output = { $"else_out{i}" } });
            other.Output.Add(new ValueInfoProto { Name = $"else_out{i}" });
            ifNode.Attribute.Add(new AttributeProto { Name = "then_branch", Type = AttributeProto.Types.AttributeType.Graph, G = body });
            ifNode.Attribute.Add(new AttributeProto { Name = "else_branch", Type = AttributeProto.Types.AttributeType.Graph, G = other });
            outer.Node.Add(ifNode);
            outer.Output.Add(new ValueInfoProto { Name = $"out{i}" });
            body = outer;
        }
        return body.Node[0];
    }
}
