"""The containers service: docker's container lifecycle on top of the runtime, images and network.

    ContainerService(root=<data-root>/containers, config, images, network)   (service.py)
      create/start/stop/kill/restart/remove/rename/prune, list/inspect, wait, attach, logs,
      exec_create/exec_start/exec_inspect, top, stats_sample, restore() at daemon start and
      shutdown() at its end. Errors are errors.NotFound/Conflict/InvalidParameter/
      NotModified/StartError, which the API maps to docker's status codes.

Modules: record (a container's state on disk), create (request -> record, docker's checks),
spec (record -> runtime spec), etcfiles (hostname, hosts, resolv.conf), logs (reading
json-file logs), views (inspect and ps shapes), streams (hijacked connections), naming.
"""
