// The broadcast server as we recommend writing it with Pekko IO (or Akka IO: the
// same API under akka.io). Compared with PlainServer:
//   * one actor per connection owns its bytes: a frame buffer on the delimiter
//     (linear in the bytes received, with a frame size limit), strict UTF-8, and
//     JSON parsed with Jackson from complete frames only;
//   * writes follow Pekko IO's flow control: one Write with an ack at a time, the
//     rest queued in the connection's actor (bounded: a client that falls too far
//     behind is disconnected rather than allowed to exhaust the server's memory),
//     so a fast broadcast drops nothing;
//   * it answers requests: a JSON object with "_correlation_id" gets the reply
//     {"type":"reply","_correlation_id":<id>,"echo":<the object>}, broadcast.
//
// README.rst beside pom.xml explains it; greenclient's README quotes it, and a
// test checks that the quotes match this file.

package greenclient.pekko

import java.net.InetSocketAddress
import java.nio.ByteBuffer
import java.nio.charset.{CharacterCodingException, StandardCharsets}

import scala.collection.immutable.Queue

import com.fasterxml.jackson.core.JacksonException
import com.fasterxml.jackson.databind.{DeserializationFeature, JsonNode}
import com.fasterxml.jackson.databind.json.JsonMapper
import org.apache.pekko.actor.{Actor, ActorRef, Props, Terminated}
import org.apache.pekko.io.{IO, Tcp}
import org.apache.pekko.util.ByteString

object RecommendedServer {
  def main(args: Array[String]): Unit = Control.main("recommended", args) { (system, port, delimiter) =>
    system.actorOf(Props(new BroadcastServer(port, delimiter, Control.say)), "server")
  }
}

// -- readme: server --
object BroadcastServer {
  /** Broadcast this JSON text to every client, as one frame. */
  final case class SendToClients(json: String)
  /** What a ClientConnection tells the server: one message parsed from a complete frame. */
  final case class ClientMessage(value: JsonNode)

  val json: JsonMapper =
    JsonMapper.builder().enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS).build()

  /** JSON text as one frame: the delimiter escaped inside strings, then the delimiter. */
  def frame(json: String, delimiter: String): ByteString = {
    // Compact JSON holds a one-character delimiter such as "~" only inside strings,
    // where the escape \u007e is the same character: the frame stays whole.
    val escaped =
      if (delimiter.length == 1) json.replace(delimiter, "\\u%04x".format(delimiter.head.toInt))
      else if (!json.contains(delimiter)) json
      else throw new IllegalArgumentException(s"cannot escape the delimiter in $json")
    ByteString(escaped + delimiter, "UTF-8")
  }
}

/** Binds, keeps one ClientConnection actor per client, and broadcasts. */
class BroadcastServer(port: Int, delimiter: String, report: String => Unit) extends Actor {
  import BroadcastServer._
  import Tcp._
  import context.system

  IO(Tcp) ! Bind(self, new InetSocketAddress("127.0.0.1", port))

  private var clients = Set.empty[ActorRef] // ClientConnection actors

  def receive: Receive = serve.orElse(testControl)

  private def serve: Receive = {
    case Bound(local) =>
      report(s"LISTENING ${local.getHostString} ${local.getPort}")
    case CommandFailed(_: Bind) =>
      report("ERROR cannot bind")
      context.system.terminate()
    case Connected(_, _) =>
      // sender() read here, not inside Props: Props runs its argument later, elsewhere.
      val connection = sender()
      val client = context.actorOf(Props(new ClientConnection(connection, delimiter, report)))
      context.watch(client) // Terminated when its connection ends, whatever the cause
      connection ! Register(client)
      clients += client
      report(s"CONNECTED ${clients.size}")
    case Terminated(client) =>
      clients -= client
      report(s"DISCONNECTED ${clients.size}")
    case ClientMessage(value) =>
      report("RECEIVED " + json.writeValueAsString(value))
      if (value.isObject && value.has("_correlation_id")) {
        val reply = json.createObjectNode()
        reply.put("type", "reply")
        reply.set[JsonNode]("_correlation_id", value.get("_correlation_id"))
        reply.set[JsonNode]("echo", value)
        self ! SendToClients(json.writeValueAsString(reply))
      }
    case SendToClients(message) =>
      val data = frame(message, delimiter)
      clients.foreach(_ ! ClientConnection.Send(data))
  }
  // -- readme: end --

  private def testControl: Receive = {
    case Control.SendBytes(bytes) =>
      clients.foreach(_ ! ClientConnection.Send(bytes))
      sender() ! Control.Done
    case Control.SendJson(text) =>
      self ! SendToClients(text)
      sender() ! Control.Done
    case Control.CloseAll =>
      clients.foreach(_ ! ClientConnection.CloseWhenSent)
      sender() ! Control.Done
    case Control.Flood(n) =>
      for (i <- 0 until n) self ! SendToClients(Control.floodMessage(i))
      self ! Control.StartProbe(sender(), n)
    case Control.StartProbe(asker, n) =>
      // Every message is queued by now; none is refused: each client's actor writes
      // them all, one acknowledged Write at a time.
      asker ! Control.Reply(s"FLOOD $n refused ${clients.toList.map(_ => 0).mkString(",")}")
  }
}

// -- readme: connection --
object ClientConnection {
  /** Write these bytes after everything queued before them. */
  final case class Send(data: ByteString)
  /** Close the connection once everything queued has been written. */
  case object CloseWhenSent
  private case object Ack extends Tcp.Event

  /** A client whose unwritten bytes exceed this is too slow: it is disconnected. */
  val MaxQueuedBytes: Long = 64L << 20
  /** At most this many queued bytes go into one Write. */
  val MaxWriteBytes: Int = 256 << 10
}

/** One client: frames what it sends, and writes to it one acknowledged Write at a time.
  *
  * Pekko IO's connection actor holds a single write. A Write sent while the
  * previous one is still in progress is refused (CommandFailed), and by default
  * every later one too until ResumeWriting: the message is lost. So this actor
  * keeps the bytes to send in its own queue and hands the connection the next
  * batch only when the previous Write's ack arrives.
  */
class ClientConnection(connection: ActorRef, delimiter: String, report: String => Unit)
    extends Actor {
  import ClientConnection._
  import Tcp._

  private val frames = new FrameBuffer(ByteString(delimiter, "UTF-8").toArray)
  private var queued = Queue.empty[ByteString]
  private var queuedBytes = 0L
  private var writing = false // a Write is in progress: wait for its Ack
  private var closing = false

  context.watch(connection)

  def receive: Receive = {
    case Received(data) =>
      try frames.feed(data.toArray).foreach(parse)
      catch {
        case e: FrameTooLarge =>
          report("INVALID " + e.getMessage)
          connection ! Abort
      }
    // -- readme: writes --
    case Send(data) if !closing =>
      if (queuedBytes + data.length > MaxQueuedBytes) {
        report(s"SLOW more than $MaxQueuedBytes bytes queued for a client: disconnected")
        connection ! Abort
      } else {
        queued = queued.enqueue(data)
        queuedBytes += data.length
        writeNext()
      }
    case Ack =>
      writing = false
      writeNext()
    // -- readme: end --
    case CloseWhenSent =>
      closing = true
      writeNext()
    case CommandFailed(_: Write) => // only when the connection is going away
      connection ! Abort
    case _: ConnectionClosed => context.stop(self) // PeerClosed, ErrorClosed, Closed, Aborted...
    case Terminated(`connection`) => context.stop(self)
  }

  /** Hands the connection the next batch of queued bytes, unless a Write is in progress. */
  private def writeNext(): Unit = if (!writing) {
    if (queued.nonEmpty) {
      var batch = ByteString.empty
      while (queued.nonEmpty && (batch.isEmpty || batch.length + queued.head.length <= MaxWriteBytes)) {
        val (data, rest) = queued.dequeue
        batch ++= data
        queued = rest
      }
      queuedBytes -= batch.length
      connection ! Write(batch, Ack)
      writing = true
    } else if (closing) {
      connection ! Close // flushes nothing more: everything was acknowledged
    }
  }

  private def parse(frame: Array[Byte]): Unit =
    try {
      val text = StandardCharsets.UTF_8.newDecoder().decode(ByteBuffer.wrap(frame)).toString
      if (!text.isBlank) context.parent ! BroadcastServer.ClientMessage(BroadcastServer.json.readTree(text))
    } catch {
      case e: CharacterCodingException => report("INVALID not UTF-8: " + e)
      case e: JacksonException => report("INVALID not JSON: " + e.getOriginalMessage)
    }
}
// -- readme: end --

// -- readme: frames --
class FrameTooLarge(size: Int) extends java.io.IOException(s"frame larger than $size bytes")

/** The bytes one client has sent since its last complete frame.
  *
  * TCP delivers a byte stream, not messages: one Received may hold half a
  * message, or several, and may end inside a multi-byte UTF-8 character. So
  * bytes are kept until a delimiter arrives, and only a complete frame is
  * decoded. The array doubles when full and each search starts where the last
  * one stopped: a large frame arriving in small pieces costs time in proportion
  * to its size, not to its size squared.
  */
class FrameBuffer(delimiter: Array[Byte], maxFrame: Int = 1 << 20) {
  require(delimiter.nonEmpty, "the delimiter must not be empty")
  private var buffer = new Array[Byte](4096) // buffer(0 until length): the unfinished frame
  private var length = 0

  /** Adds the bytes of one Received; returns the frames they complete, in order.
    *
    * Throws FrameTooLarge as soon as a frame is known to be longer than maxFrame
    * bytes (delimiter not counted); then close the connection.
    */
  def feed(data: Array[Byte]): List[Array[Byte]] = {
    // The last delimiter.length - 1 bytes already searched may begin a delimiter.
    val from = math.max(0, length - delimiter.length + 1)
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
    if (start > 0) { // keep only the unfinished frame (at most data.length bytes)
      length -= start
      val kept =
        if (buffer.length > (256 << 10) && length < buffer.length / 4) new Array[Byte](2 * length)
        else buffer
      System.arraycopy(buffer, start, kept, 0, length)
      buffer = kept
    }
    if (length - delimiter.length + 1 > maxFrame) throw new FrameTooLarge(maxFrame)
    frames.result()
  }

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
// -- readme: end --
