"""The benchmark: Chatroom against a Node socket.io peer and a bare Flask-SocketIO app (README.md)."""
