namespace OnnxMemOpt.Tests;

public class SmokeTests
{
    [Fact]
    public void CustomOpLibraryIsBuilt() => Assert.True(File.Exists(OnnxMemOpt.CustomOps.CustomOpLibrary.Path));
}
