using System.Collections;

namespace Adapter;

/// <summary>
/// The body returned by <c>wsgi.file_wrapper</c>. The body pump recognises it and sends a file stream
/// through the server's send-file path; anything else is read in blocks. Disposing it disposes the stream.
/// </summary>
internal sealed class FileWrapperBody : IEnumerable<byte[]>, IDisposable
{
    public static readonly FileWrapper Wrapper = static (file, blockSize) => new FileWrapperBody(file, blockSize);

    private int _disposed;

    private FileWrapperBody(Stream file, int blockSize)
    {
        ArgumentNullException.ThrowIfNull(file);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(blockSize);
        Stream = file;
        BlockSize = blockSize;
    }

    public Stream Stream { get; }

    public int BlockSize { get; }

    public IEnumerator<byte[]> GetEnumerator()
    {
        while (true)
        {
            // A fresh array per block: an app-level middleware may keep the chunks it is handed.
            var block = new byte[BlockSize];
            var read = Stream.ReadAtLeast(block, BlockSize, throwOnEndOfStream: false);
            if (read == 0)
            {
                yield break;
            }

            yield return read == BlockSize ? block : block[..read];
        }
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            Stream.Dispose();
        }
    }
}
