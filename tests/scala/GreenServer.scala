// A Scala broadcast server shaped like greenclient's users' server, for the interop tests.
//
// One actor owns the set of clients and handles Connected, PeerClosed, Received
// and SendToClients. An acceptor thread and one reader thread per connection feed
// it those messages, as Akka IO's Tcp manager does for an Akka actor. Every
// client's bytes are framed on the delimiter with a buffer of its own, each frame
// is decoded as UTF-8 and parsed with scala.util.parsing.json.
//
// Compile and run (Debian's scala package), from the repository's top folder:
//   mkdir -p build/scala/classes
//   lib=/usr/share/scala/lib
//   scalac -classpath $lib/scala-actors.jar:$lib/scala-parser-combinators.jar \
//     -d build/scala/classes tests/scala/GreenServer.scala
//   scala -classpath build/scala/classes GreenServer 8000
//
// Arguments: [PORT (default 8000; 0 picks a free one)] [DELIMITER (default ~)].
// It is driven by commands on standard input, one per line:
//   send TEXT      write TEXT and the delimiter to every client, in one write
//   json TEXT      write the JSON text TEXT as Frames.frame makes it (delimiter escaped)
//   raw TEXT       write TEXT alone (no delimiter)
//   bytewise TEXT  write TEXT and the delimiter one byte per write
//   close          close every client connection
//   quit           stop
// and reports on standard output (UTF-8), one line each: LISTENING HOST PORT,
// CONNECTED N, DISCONNECTED N (N: clients now connected), RECEIVED JSON (each
// frame, parsed and written back as compact JSON), INVALID REASON, and
// OK COMMAND once a command has been carried out.
//
// It answers requests: a JSON object that has a "_correlation_id" field is
// answered by writing {"type":"reply","_correlation_id":<the same id>,"echo":<the
// object>} to every client (what greenclient's request() waits for).

import java.io.{BufferedReader, FileDescriptor, FileOutputStream, IOException}
import java.io.{InputStreamReader, PrintStream}
import java.net.{InetSocketAddress, ServerSocket, Socket}
import java.nio.ByteBuffer
import java.nio.charset.{CharacterCodingException, StandardCharsets}

import scala.actors.Actor
import scala.util.parsing.json.{JSON, JSONFormat}

// What the actor is told, named as in Akka IO (Tcp.Connected, Tcp.PeerClosed, Tcp.Received).
case class Connected(client: Socket)
case class PeerClosed(client: Socket)
case class Received(client: Socket, data: Array[Byte])
case class SendToClients(message: Array[Byte], bytewise: Boolean = false)
case object CloseAll
case object Stop

class FrameTooLarge(size: Int) extends java.io.IOException(s"frame larger than $size bytes")

/** The bytes one client has sent since its last complete frame.
  *
  * TCP delivers a byte stream, not messages: one Received may hold half a
  * message, or several, and may even end inside a multi-byte UTF-8 character.
  * So bytes are kept until a delimiter arrives, and only a complete frame is
  * decoded. Keep one FrameBuffer per client: a buffer shared by all clients
  * mixes their bytes.
  *
  * The array doubles when full and each search starts where the last one
  * stopped, so a large frame arriving in small pieces costs time in proportion
  * to its size, not to its size squared.
  */
class FrameBuffer(delimiter: Array[Byte], maxFrame: Int = 1 << 20) {
  require(delimiter.nonEmpty, "the delimiter must not be empty")
  private var buffer = new Array[Byte](4096) // buffer(0 until length): the unfinished frame
  private var length = 0

  /** Adds the bytes of one Received; returns the frames they complete, in order.
    *
    * Throws FrameTooLarge as soon as a frame is known to be longer than maxFrame
    * bytes (delimiter not counted); the buffer is then unusable: close the connection.
    */
  def feed(data: Array[Byte]): List[Array[Byte]] = {
    // No delimiter starts in the bytes already searched, but the last
    // delimiter.length - 1 of them may begin one that data completes.
    val from = math.max(0, length - delimiter.length + 1)
    // Grow at least twofold, so that appending stays O(1) per byte.
    if (length + data.length > buffer.length)
      buffer = java.util.Arrays.copyOf(buffer, math.max(2 * buffer.length, length + data.length))
    System.arraycopy(data, 0, buffer, length, data.length)
    length += data.length

    val frames = List.newBuilder[Array[Byte]]
    var start = 0
    var end = indexOfDelimiter(from)
    while (end >= 0) {
      if (end - start > maxFrame) throw new FrameTooLarge(maxFrame)
      frames += java.util.Arrays.copyOfRange(buffer, start, end)
      start = end + delimiter.length
      end = indexOfDelimiter(start)
    }
    if (start > 0) {
      // Move the unfinished frame to the front. It began after a delimiter that
      // ended in data, so this copies no more than data.length bytes. After a
      // large frame, a smaller array gives the memory back.
      length -= start
      val kept =
        if (buffer.length > (256 << 10) && length < buffer.length / 4) new Array[Byte](2 * length)
        else buffer
      System.arraycopy(buffer, start, kept, 0, length)
      buffer = kept
    }
    // A client that never sends the delimiter must not grow the buffer forever:
    // no delimiter starts before the last delimiter.length - 1 bytes, so all the
    // bytes before them belong to the unfinished frame.
    if (length - delimiter.length + 1 > maxFrame) throw new FrameTooLarge(maxFrame)
    frames.result()
  }

  /** Where the first delimiter at or after `from` starts in buffer(0 until length), or -1. */
  private def indexOfDelimiter(from: Int): Int = {
    var i = from
    while (i <= length - delimiter.length) {
      var j = 0
      while (j < delimiter.length && buffer(i + j) == delimiter(j)) j += 1
      if (j == delimiter.length) return i
      i += 1
    }
    -1
  }
}

object Frames {
  /** Decodes one complete frame; malformed UTF-8 is an error, not replacement characters. */
  def decode(frame: Array[Byte]): Either[String, String] =
    try Right(StandardCharsets.UTF_8.newDecoder().decode(ByteBuffer.wrap(frame)).toString)
    catch { case e: CharacterCodingException => Left("not UTF-8: " + e) }

  /** One frame to send: `json` with the delimiter escaped, then the delimiter.
    *
    * Compact JSON text holds a "~" only inside a string, where the escape \u007e
    * stands for the same character: the receiver decodes the same value, and no
    * "~" but the last ends the frame early. (For a one-character delimiter that
    * is not part of JSON's syntax, as "~" is.)
    */
  def frame(json: String, delimiter: String): Array[Byte] = {
    val escaped =
      if (delimiter.length != 1) json
      else json.replace(delimiter, "\\u%04x".format(delimiter.head.toInt))
    (escaped + delimiter).getBytes(StandardCharsets.UTF_8)
  }

  /** Compact JSON of a value from JSON.parseFull (Map, List, String, Double, Boolean, null). */
  def toJson(value: Any): String = value match {
    case null => "null"
    case s: String => "\"" + JSONFormat.quoteString(s) + "\""
    // parseFull reads every number as a Double: write whole ones back as integers.
    case d: Double if d.isWhole && math.abs(d) <= 9007199254740992.0 => d.toLong.toString
    case d: Double => d.toString
    case b: Boolean => b.toString
    case m: Map[_, _] =>
      m.map { case (k, v) => toJson(k.toString) + ":" + toJson(v) }.mkString("{", ",", "}")
    case l: List[_] => l.map(toJson).mkString("[", ",", "]")
    case other => toJson(other.toString)
  }
}

/** Owns the clients; everything that touches the client set happens here, one message at a time. */
class Server(delimiter: Array[Byte], out: PrintStream) extends Actor {
  private var clients = Map.empty[Socket, FrameBuffer]

  def act(): Unit = loop {
    react {
      case Connected(client) =>
        clients += client -> new FrameBuffer(delimiter)
        out.println(s"CONNECTED ${clients.size}")
      case PeerClosed(client) =>
        drop(client)
      case Received(client, data) =>
        for (buffer <- clients.get(client)) {
          try buffer.feed(data).foreach(report)
          catch { case e: FrameTooLarge => out.println("INVALID " + e.getMessage); drop(client) }
        }
      case SendToClients(message, false) =>
        clients.keys.foreach(write(_, message))
        reply(())
      case SendToClients(message, true) =>
        for (i <- message.indices) {
          clients.keys.foreach(write(_, message.slice(i, i + 1)))
          Thread.sleep(1) // let each byte leave in a TCP segment of its own
        }
        reply(())
      case CloseAll =>
        clients.keys.foreach(drop)
        reply(())
      case Stop =>
        clients.keys.foreach(drop)
        reply(())
        exit()
    }
  }

  private def report(frame: Array[Byte]): Unit = Frames.decode(frame) match {
    case Left(error) => out.println("INVALID " + error)
    case Right(text) if text.trim.isEmpty => // an empty frame carries no message
    case Right(text) => JSON.parseFull(text) match {
      case Some(value) =>
        out.println("RECEIVED " + Frames.toJson(value))
        answer(value)
      case None => out.println("INVALID not JSON: " + Frames.toJson(text))
    }
  }

  /** A request is a JSON object with a "_correlation_id": reply to every client with that id. */
  private def answer(value: Any): Unit = value match {
    case request: Map[String, Any] @unchecked if request.contains("_correlation_id") =>
      val reply = Map(
        "type" -> "reply",
        "_correlation_id" -> request("_correlation_id"),
        "echo" -> request)
      val frame = Frames.frame(Frames.toJson(reply), delimiterText)
      clients.keys.foreach(write(_, frame))
    case _ => // not a request
  }

  private val delimiterText = new String(delimiter, StandardCharsets.UTF_8)

  private def write(client: Socket, data: Array[Byte]): Unit =
    try { client.getOutputStream.write(data); client.getOutputStream.flush() }
    catch { case _: IOException => drop(client) }

  private def drop(client: Socket): Unit = if (clients.contains(client)) {
    clients -= client
    try { client.shutdownOutput(); client.close() } catch { case _: IOException => }
    out.println(s"DISCONNECTED ${clients.size}")
  }
}

object GreenServer {
  private def thread(name: String)(body: => Unit): Unit = {
    val t = new Thread(new Runnable { def run(): Unit = body }, name)
    t.setDaemon(true)
    t.start()
  }

  /** Turns a connection's bytes into Received messages, then PeerClosed, like Akka IO. */
  private def readLoop(client: Socket, server: Actor): Unit = {
    val chunk = new Array[Byte](64 * 1024)
    try {
      val in = client.getInputStream
      var n = in.read(chunk)
      while (n >= 0) {
        if (n > 0) server ! Received(client, chunk.take(n)) // a copy: chunk is reused
        n = in.read(chunk)
      }
    } catch { case _: IOException => } // reset, or closed by the server
    finally server ! PeerClosed(client)
  }

  def main(args: Array[String]): Unit = {
    val port = if (args.length > 0) args(0).toInt else 8000
    val delimiterText = if (args.length > 1) args(1) else "~"
    val delimiter = delimiterText.getBytes(StandardCharsets.UTF_8)
    // The JVM's default charset follows the locale; the protocol is UTF-8 whatever it is.
    val out = new PrintStream(new FileOutputStream(FileDescriptor.out), true, "UTF-8")
    val stdin = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8))

    val server = new Server(delimiter, out)
    server.start()
    val listener = new ServerSocket()
    listener.setReuseAddress(true)
    listener.bind(new InetSocketAddress("127.0.0.1", port), 1024)
    thread("acceptor") {
      try while (true) {
        val client = listener.accept()
        client.setTcpNoDelay(true)
        server ! Connected(client) // before the reader starts: Connected comes first
        thread("reader")(readLoop(client, server))
      } catch { case _: IOException => } // the listener was closed: stop accepting
    }
    out.println(s"LISTENING 127.0.0.1 ${listener.getLocalPort}")

    def bytes(text: String) = text.getBytes(StandardCharsets.UTF_8)
    var running = true
    while (running) {
      val (command, rest) = Option(stdin.readLine()).getOrElse("quit").span(_ != ' ') // EOF: quit
      val text = rest.drop(1)
      val done = command match {
        case "send" => server !? SendToClients(bytes(text) ++ delimiter); true
        case "json" => server !? SendToClients(Frames.frame(text, delimiterText)); true
        case "raw" => server !? SendToClients(bytes(text)); true
        case "bytewise" => server !? SendToClients(bytes(text) ++ delimiter, bytewise = true); true
        case "close" => server !? CloseAll; true
        case "quit" => listener.close(); server !? Stop; running = false; true
        case "" => false
        case other => out.println("ERROR unknown command " + Frames.toJson(other)); false
      }
      if (done) out.println("OK " + command)
    }
    sys.exit(0)
  }
}
