namespace OnnxMemOpt.Runtime;
