from django.urls import path

from fleetsite import views

urlpatterns = [
    path("add", views.add),
    path("tasks/<str:task_id>", views.task),
]
