"""A Pyramid app with one route and one view."""
from pyramid.config import Configurator
from pyramid.response import Response


def hello(request):
    return Response("Hello %s from Pyramid" % request.matchdict["name"], content_type="text/plain")


with Configurator() as config:
    config.add_route("hello", "/hello/{name}")
    config.add_view(hello, route_name="hello")
    app = config.make_wsgi_app()
