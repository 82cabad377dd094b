namespace Adapter;

/// <summary>The environ keys the adapter provides (SPEC §2).</summary>
internal static class EnvironKeys
{
    public const string RequestMethod = "REQUEST_METHOD";
    public const string ScriptName = "SCRIPT_NAME";
    public const string PathInfo = "PATH_INFO";
    public const string QueryString = "QUERY_STRING";
    public const string ContentType = "CONTENT_TYPE";
    public const string ContentLength = "CONTENT_LENGTH";
    public const string ServerName = "SERVER_NAME";
    public const string ServerPort = "SERVER_PORT";
    public const string ServerProtocol = "SERVER_PROTOCOL";
    public const string RemoteAddr = "REMOTE_ADDR";
    public const string RemotePort = "REMOTE_PORT";
    public const string RemoteUser = "REMOTE_USER";
    public const string RequestUri = "REQUEST_URI";
    public const string WsgiVersion = "wsgi.version";
    public const string WsgiUrlScheme = "wsgi.url_scheme";
    public const string WsgiInput = "wsgi.input";
    public const string WsgiErrors = "wsgi.errors";
    public const string WsgiMultithread = "wsgi.multithread";
    public const string WsgiMultiprocess = "wsgi.multiprocess";
    public const string WsgiRunOnce = "wsgi.run_once";
    public const string WsgiInputTerminated = "wsgi.input_terminated";
    public const string WsgiFileWrapper = "wsgi.file_wrapper";
    public const string HttpContext = "aspnetcore.http_context";
    public const string RequestAborted = "aspnetcore.request_aborted";
    public const string HeaderPrefix = "HTTP_";

    /// <summary>The keys present on every request, in the order an enumeration lists them.</summary>
    public static readonly string[] Always =
    [
        RequestMethod, ScriptName, PathInfo, QueryString, ServerName, ServerPort, ServerProtocol,
        RemoteAddr, RemotePort, RequestUri, WsgiVersion, WsgiUrlScheme, WsgiInput, WsgiErrors,
        WsgiMultithread, WsgiMultiprocess, WsgiRunOnce, WsgiInputTerminated, WsgiFileWrapper,
        HttpContext, RequestAborted,
    ];
}
