"""Two views: one sends fleet.add by name to the fleet's workers, the other reads a task's state and result."""

from celery.result import AsyncResult
from django.http import HttpResponseBadRequest, JsonResponse
from django.views.decorators.http import require_GET, require_POST

from fleetsite.celery import app


@require_POST
def add(request):
    """POST /add with x and y: the task's id (202), for GET /tasks/<id>. The task runs on the fleet's workers."""
    try:
        x, y = int(request.POST["x"]), int(request.POST["y"])
    except (KeyError, ValueError):
        return HttpResponseBadRequest("x and y must be whole numbers")
    # By name: this project has no tasks code. The routes in the settings pick the queue.
    result = app.send_task("fleet.add", args=[x, y])
    return JsonResponse({"task_id": result.id}, status=202)


@require_GET
def task(request, task_id):
    """GET /tasks/<id>: the task's state, and its result once it has one."""
    result = AsyncResult(task_id, app=app)
    body = {"task_id": task_id, "state": result.state}
    if result.successful():
        body["result"] = result.result
    return JsonResponse(body)
