"""moto's server (the local DynamoDB, S3 and SQS), tuned for load.

    python3 dev/moto_server.py -H 127.0.0.1 -p PORT     # as `python3 -m moto.server`
    python3 dev/moto_server.py --with-stdin PORT        # serves until stdin closes

moto's server is one Python process, so its per-request overhead bounds how
fast the flow tests and the local runner can go. Connections are kept open
(HTTP/1.1), and a received message's retention is checked without
computing every attribute of its queue. Three costs that do not change
while it runs are paid once here: the per-request log line, listing
moto's package directory to route each request, and listing a handler's
methods to dispatch each request.

moto serves requests on threads, and its TransactWriteItems copies the whole
table while other threads write to it: under load it fails with "dictionary
changed size during iteration" (a 500). DynamoDB requests are run one at a
time here, as the interpreter lock nearly does anyway, so the emulator is
consistent the way DynamoDB is.

Each change is skipped if moto changes shape.
"""
import functools
import logging
import sys
import threading


def tune():
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    # The cyclic garbage collector walked moto's whole heap (every item,
    # message and object it keeps) again and again: about a sixth of its CPU
    # in the flow tests. What is loaded at start is frozen out of it, and it
    # runs ten times less often.
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(7000, 10, 10)
    try:
        # HTTP/1.1 keeps connections open: without it every AWS call opens a
        # new TCP connection (and moto a new thread) and closes it.
        from werkzeug.serving import WSGIRequestHandler

        WSGIRequestHandler.protocol_version = "HTTP/1.1"
    except ImportError:
        pass
    try:
        from moto import backends
        from moto.core import responses

        modules = tuple(backends.list_of_moto_modules())
        backends.list_of_moto_modules = lambda: modules
        responses.method_names_from_class = functools.cache(responses.method_names_from_class)
    except (ImportError, AttributeError):
        pass
    try:
        from moto.core.utils import unix_time
        from moto.sqs.models import SQSBackend

        def retained(self, queue_name, message):
            # moto reads the retention period by computing every attribute of
            # the queue (counting its messages) for each message it returns.
            period = int(self.get_queue(queue_name).message_retention_period)
            return period + message.sent_timestamp / 1000 > unix_time()

        SQSBackend.is_message_valid_based_on_retention_period = retained
    except (ImportError, AttributeError):
        pass
    try:
        from moto.dynamodb.responses import DynamoHandler

        lock = threading.Lock()
        call_action = DynamoHandler.call_action

        def one_at_a_time(self):
            with lock:
                return call_action(self)

        DynamoHandler.call_action = one_at_a_time
    except (ImportError, AttributeError):
        pass


if __name__ == "__main__":
    tune()
    if sys.argv[1:2] == ["--with-stdin"]:
        from moto.server import ThreadedMotoServer

        server = ThreadedMotoServer(ip_address="127.0.0.1", port=int(sys.argv[2]), verbose=False)
        server.start()
        print("ready", flush=True)
        sys.stdin.read()
        server.stop()
    else:
        from moto.server import main

        main(sys.argv[1:])
