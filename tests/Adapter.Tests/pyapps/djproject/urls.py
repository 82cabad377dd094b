from django.urls import path

from djproject import views

urlpatterns = [
    path("hello/", views.hello),
    path("submit/", views.submit),
]
