from django.http import HttpResponse


def hello(request):
    return HttpResponse("Hello from Django at %s" % request.path, content_type="text/plain")


def submit(request):
    if request.method != "POST":
        return HttpResponse("POST only", status=405)
    return HttpResponse("%s ordered %s" % (request.POST["name"], ", ".join(request.POST.getlist("item"))), content_type="text/plain")
