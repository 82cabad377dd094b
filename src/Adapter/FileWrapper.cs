namespace Adapter;

/// <summary>
/// PEP 3333's <c>wsgi.file_wrapper</c>: wraps a stream as a response body. A <see cref="FileStream"/> is sent
/// through the server's send-file path from its current position; any other stream is read in blocks.
/// The stream is disposed when the request ends.
/// </summary>
/// <param name="file">The stream to send.</param>
/// <param name="blockSize">The size of the blocks read from a stream that is not a file.</param>
/// <returns>An iterable to return from the application.</returns>
public delegate IEnumerable<byte[]> FileWrapper(Stream file, int blockSize = 65536);
